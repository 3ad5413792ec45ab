"""A file holding one large JSON array, read one element at a time, counting the bytes read.

ChatGPT's ``conversations.json`` and Takeout's ``My Activity.json`` are both one array of
hundreds of MB on one line, so ``json.load`` is not an option; both platforms read them here
rather than one importing the other's parser.
"""

from __future__ import annotations

from collections.abc import Iterator
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
    kept = f"the {done} {noun}(s) before it landed"
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
