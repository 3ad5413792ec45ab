"""A file holding one large JSON array, read one element at a time, counting the bytes read.

ChatGPT's ``conversations.json`` and Takeout's ``My Activity.json`` are both one array of
hundreds of MB on one line, so ``json.load`` is not an option; both platforms read them here
rather than one importing the other's parser.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, Any

import ijson


class CountingReader:
    """Wraps a binary file so the sync can report the bytes it actually read."""

    def __init__(self, raw: Any, already: int = 0):
        self._raw = raw
        self.bytes_read = already  # bytes consumed before this reader took over (a skipped BOM)

    def read(self, size: int = -1) -> bytes:
        chunk = self._raw.read(size)
        self.bytes_read += len(chunk)
        return chunk


def iter_items(fh: Any) -> Iterator[Any]:
    """Each element of the top-level JSON array, fully built one at a time (memory is bounded by
    the largest element, not the file). Raises ``ijson.JSONError`` on malformed input."""
    yield from ijson.items(fh, "item", use_float=True)


def describe_json_error(exc: Exception, noun: str, index: int, bytes_read: int) -> tuple[str, str, str]:
    """(location, reason, excerpt) of a parse error after ``index`` complete items (-1: none),
    in words that say what to do. yajl reports bytes: a first line saying what is wrong, then the
    text around the fault (kept as the excerpt)."""
    message = exc.args[0] if exc.args else str(exc)
    text = message.decode("utf-8", "replace") if isinstance(message, bytes) else str(message)
    first, _, rest = text.strip().partition("\n")
    first = first.strip()
    done = index + 1
    location = f"{noun} {done} (byte ~{bytes_read})"
    kept = f"the {done} {noun}(s) before it landed" if done else f"no {noun} came before it"
    if "premature EOF" in first:
        reason = (
            f"the file ends in the middle of {noun} {done}: it is truncated (a download or unzip cut "
            f"short?); {kept}; replace it with a complete copy"
        )
    elif isinstance(exc, UnicodeDecodeError) or "UTF8" in first:
        reason = (
            f"invalid JSON: {first} (the file is not UTF-8 from byte ~{bytes_read}); {kept}, the rest "
            "was not read; use the file as the service exported it, or re-encode it as UTF-8"
        )
    else:
        reason = f"invalid JSON: {first}; {kept}, the rest was not read; fix the file or export it again"
    return location, reason, rest.strip()


class PrefixedReader:
    """A stream whose first bytes were already read (to look at them): gives them back first."""

    def __init__(self, head: bytes, rest: IO[bytes]) -> None:
        self._head, self._rest = head, rest

    def read(self, size: int = -1) -> bytes:
        if self._head:
            if size < 0:
                out, self._head = self._head + self._rest.read(), b""
                return out
            out, self._head = self._head[:size], self._head[size:]
            return out
        return self._rest.read(size)


class NotAnArrayError(ValueError):
    """The document's first value is not an array (an object, text, an empty file)."""


class Utf8Repair:
    """Reads on from ``raw`` with every byte that is not UTF-8 replaced by U+FFFD, counting them.

    A JSON array on one line that has one bad byte would otherwise lose everything after it."""

    def __init__(self, raw: CountingReader) -> None:
        self._raw = raw  # its bytes_read places the first bad byte (to within a chunk)
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="surrogateescape")
        self.replaced = 0
        self.first_at: int | None = None

    def read(self, size: int = -1) -> bytes:
        while True:
            chunk = self._raw.read(size)
            text = self._decoder.decode(chunk, final=not chunk)
            bad = _ESCAPED.findall(text)
            if bad:
                if self.first_at is None:
                    self.first_at = self._raw.bytes_read
                self.replaced += len(bad)
                text = _ESCAPED.sub("\ufffd", text)
            if text or not chunk:  # b"" only at the end: a chunk may end inside a character
                return text.encode("utf-8")


_ESCAPED = re.compile("[\udc80-\udcff]")  # surrogateescape's stand-ins for undecodable bytes
_HEAD_BYTES = 256


@dataclass
class ArrayRead:
    """What ``read_array`` has done so far (readable while it runs, and after it raised)."""

    bytes_read: int = 0
    index: int = -1  # the last item yielded
    replaced: int = 0  # bytes that were not UTF-8, replaced by U+FFFD
    first_replaced_at: int | None = None


def _utf8_fault(exc: Exception) -> bool:
    if isinstance(exc, UnicodeDecodeError):
        return True
    message = exc.args[0] if exc.args else ""
    text = message.decode("utf-8", "replace") if isinstance(message, bytes) else str(message)
    return "invalid bytes in UTF8 string" in text


def read_array(open_: Callable[[], IO[bytes]], state: ArrayRead) -> Iterator[Any]:
    """Each element of the JSON array in ``open_()``, streamed (a UTF-8 BOM is allowed).

    Raises NotAnArrayError when the document is not an array, ``ijson.JSONError`` on invalid
    JSON (``state`` says how far it got). Bytes that are not UTF-8 do not end the read: the
    document is opened again with them replaced (``state.replaced``), and the items already
    yielded are skipped."""
    skip, repair, done = 0, False, 0
    while True:
        with open_() as raw:
            head = raw.read(_HEAD_BYTES)
            body = head.removeprefix(b"\xef\xbb\xbf")
            if not body.lstrip(b" \t\r\n").startswith(b"["):
                state.bytes_read = done + len(head)
                raise NotAnArrayError("top-level JSON value is not an array")
            counter = CountingReader(PrefixedReader(body, raw), already=len(head) - len(body))
            fixer = Utf8Repair(counter) if repair else None
            try:
                for index, item in enumerate(iter_items(fixer or counter)):
                    state.bytes_read = done + counter.bytes_read
                    if index < skip:
                        continue
                    state.index = index
                    yield item
            except (ijson.JSONError, UnicodeDecodeError) as exc:
                state.bytes_read = done + counter.bytes_read
                if repair or not _utf8_fault(exc):
                    raise
                repair, skip, done = True, state.index + 1, state.bytes_read
                continue
            finally:
                if fixer is not None:
                    state.replaced, state.first_replaced_at = fixer.replaced, fixer.first_at
            state.bytes_read = done + counter.bytes_read
            return


def replaced_bytes(read: ArrayRead) -> tuple[str, str]:
    """(location, reason) of the reject that records bytes replaced by ``read_array``."""
    return (
        f"byte ~{read.first_replaced_at}",
        f"{read.replaced} byte(s) that are not UTF-8 replaced by U+FFFD (the first at byte "
        f"~{read.first_replaced_at}) so the rest of the file could be read; the text there shows "
        "U+FFFD: use the file as the service exported it, or re-encode it as UTF-8",
    )
