"""Export files as people download them: a JSON file, or the ZIP archive it came in.

ChatGPT's data export and Google Takeout both arrive as ZIP files, and people drop the ZIP in
the exports folder as often as its unzipped folder. Both platforms read them here, member by
member, streamed (``zipfile`` decompresses as it is read: memory stays bounded by the parser,
not the archive). The cursor stays per file on disk (the archive), so an unchanged ZIP is not
opened at all.

Which files are whose is decided by name and by the first bytes, never by a full parse:

* ChatGPT: ``conversations.json``; in a folder also any other JSON array that is not Takeout
  activity (see ``looks_like_activity``) nor one of the export's sibling arrays.
* Takeout activity (Gemini): ``My Activity.json``, its localised names (Takeout translates
  folder and file: ``Meine Aktivitäten/Gemini-Apps/MeineAktivitäten.json``), recognised by the
  layout ``<activity folder>/<product>/<same name>.json`` or, for a loose file, by its first item
  starting with ``"header"``.
"""

from __future__ import annotations

import contextlib
import re
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

from chitty_pipelines.warehouse import Transaction
from chitty_pipelines.warehouse.ops_tables import REJECTS

CHATGPT_EXPORT_NAME = "conversations.json"
ACTIVITY_NAMES = frozenset({"My Activity.json", "MyActivity.json"})
# Takeout writes its activity JSON indented, the ``header`` key first in every item.
_ACTIVITY_HEAD = re.compile(rb'^\s*\[\s*\{\s*"header"\s*:')
HEAD_BYTES = 256
ZIP_MEMBER_SEP = "!/"  # <archive>!/<member>: how rows and rejects name a file inside a ZIP


def looks_like_activity(head: bytes) -> bool:
    """The first bytes of a Takeout activity array (``[{"header": ...``), UTF-8 BOM allowed."""
    return bool(_ACTIVITY_HEAD.match(head.removeprefix(b"\xef\xbb\xbf")))


def _squash(name: str) -> str:
    return "".join(name.split()).casefold()


def is_activity_path(name: str) -> bool:
    """``My Activity.json`` by name, or Takeout's layout in any language:
    ``<activity folder>/<product>/<file>.json`` where the file is the folder's name, spaces
    optional (``My Activity/Gemini Apps/My Activity.json``,
    ``Meine Aktivitäten/Gemini-Apps/MeineAktivitäten.json``)."""
    path = PurePosixPath(name.replace("\\", "/"))
    if path.name in ACTIVITY_NAMES:
        return True
    if path.name == CHATGPT_EXPORT_NAME:
        return False
    parts = path.parts
    return (
        path.suffix.lower() == ".json"
        and len(parts) >= 3
        and _squash(path.stem) == _squash(parts[-3])
        and bool(_squash(path.stem))
    )


def is_chatgpt_member(name: str) -> bool:
    return PurePosixPath(name.replace("\\", "/")).name == CHATGPT_EXPORT_NAME


def is_zip(path: Path) -> bool:
    return path.suffix.lower() == ".zip"


def zip_members(path: Path, wanted: Callable[[str], bool]) -> list[str] | None:
    """Names of the members ``wanted`` in the archive, in archive order; None when it is not a
    readable ZIP (a download cut short, a renamed file): the sync then rejects it by name."""
    try:
        with zipfile.ZipFile(path) as zf:
            return [i.filename for i in zf.infolist() if not i.is_dir() and wanted(i.filename)]
    except (zipfile.BadZipFile, OSError, EOFError, ValueError):
        return None


@dataclass(frozen=True)
class ExportSource:
    """One JSON document to read: a file, or a member of a ZIP archive."""

    key: str  # how rows and rejects name it: the file's key, or <archive key>!/<member>
    size: int  # uncompressed bytes, for progress
    open: Callable[[], IO[bytes]]


class BadArchiveError(ValueError):
    """A ``.zip`` that cannot be opened as one (its reject names it and what to do)."""


@contextlib.contextmanager
def export_sources(path: Path, key: str, wanted: Callable[[str], bool]) -> Iterator[list[ExportSource]]:
    """The documents of ``path``: itself, or the ``wanted`` members of a ZIP (kept open while the
    caller reads). Raises BadArchiveError for a ``.zip`` that is not a readable archive."""
    if not is_zip(path):
        yield [ExportSource(key, path.stat().st_size, lambda: path.open("rb"))]
        return
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, EOFError, ValueError) as exc:
        raise BadArchiveError(
            f"not a readable ZIP archive ({exc}): the download was probably cut short; "
            "download the export again, or unzip it into the folder"
        ) from None
    with zf:
        members = [i for i in zf.infolist() if not i.is_dir() and wanted(i.filename)]
        for info in members:
            _check_readable(info)
        yield [
            ExportSource(f"{key}{ZIP_MEMBER_SEP}{i.filename}", i.file_size, _opener(zf, i)) for i in members
        ]


_READABLE = frozenset({zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA})


def _check_readable(info: zipfile.ZipInfo) -> None:
    """Python's zipfile cannot read encrypted members nor Deflate64 (macOS and Windows use it for
    big archives): say so before reading rather than fail inside the parser."""
    if info.flag_bits & 0x1:
        raise BadArchiveError(f"{info.filename} is encrypted in the archive: unzip it into the folder")
    if info.compress_type not in _READABLE:
        raise BadArchiveError(
            f"{info.filename} is compressed with ZIP method {info.compress_type}, which Python cannot "
            "read: unzip it into the folder"
        )


def _opener(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> Callable[[], IO[bytes]]:
    return lambda: zf.open(info)


class Progress:
    """Progress lines for big files (an export of hundreds of MB takes a while and would
    otherwise print nothing): one when reading starts, then every ``every_bytes`` read."""

    def __init__(
        self, log: Callable[[str], None] | None, source: ExportSource, noun: str, every_bytes: int
    ) -> None:
        self.log = log if source.size >= every_bytes else None
        self.source, self.noun, self.every = source, noun, max(every_bytes, 1)
        self.next = self.every
        self.started = time.monotonic()
        if self.log:
            self.log(f"reading {source.key} ({source.size / 1e6:.1f} MB)")

    def update(self, bytes_read: int, items: int) -> None:
        if self.log is None or bytes_read < self.next:
            return
        while self.next <= bytes_read:
            self.next += self.every
        pct = 100.0 * min(bytes_read, self.source.size) / self.source.size
        self.log(
            f"{self.source.key}: {bytes_read / 1e6:.1f} of {self.source.size / 1e6:.1f} MB ({pct:.0f}%), "
            f"{items} {self.noun} so far, {time.monotonic() - self.started:.1f} s"
        )


def clear_file_rejects(tx: Transaction, platform: str, stream: str, key: str) -> None:
    """Forget the rejects an earlier read of this file (and of its ZIP members) left: a file is
    always read whole, so this read records every fault it still has, and a file the user fixed
    stops showing its old faults in ``chitty-sync status`` and the rejects check."""
    tx.ensure(REJECTS)
    tx.con.execute(
        f"DELETE FROM {REJECTS.sql_name} WHERE platform = ? AND stream = ? "
        "AND (source = ? OR starts_with(source, ?))",
        [platform, stream, key, key + ZIP_MEMBER_SEP],
    )
