"""Per-file sync cursors: skip unchanged files, resume grown ones, re-read replaced ones.

Stored in ``ops.sync_cursors`` under the file's path, written in the same transaction as the
rows read from the file (session-formats.md §1.14).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

Action = Literal["skip", "resume", "reread"]


@dataclass(frozen=True)
class FileCursor:
    size: int  # file size when last read
    mtime_ns: int
    inode: int
    offset: int  # byte offset just past the last complete line consumed (== size for whole files)
    line_no: int = 0  # lines consumed before ``offset``, so reject locations stay true on resume

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, value: dict[str, Any] | None) -> FileCursor | None:
        if not value:
            return None
        return cls(**{k: value[k] for k in ("size", "mtime_ns", "inode", "offset", "line_no") if k in value})


def decide(cursor: FileCursor | None, size: int, mtime_ns: int, inode: int) -> Action:
    """What to do with a file given its stored cursor and what ``stat`` says now."""
    if cursor is None:
        return "reread"
    if cursor.inode != inode or size < cursor.offset:
        return "reread"  # replaced or truncated: start over; upserts keep it idempotent
    if size == cursor.size and mtime_ns == cursor.mtime_ns:
        return "skip"
    return "resume"


@dataclass(frozen=True)
class WholeFile:
    """A file to read again from the start (a JSON document cannot be resumed)."""

    path: Path
    key: str  # its cursor key: the resolved path
    done: FileCursor  # stored in the transaction of the file's last rows, once read whole


def whole_files(
    files: Iterable[Path], cursors: Mapping[str, Any] | None
) -> tuple[list[WholeFile], list[str]]:
    """(the files to read, the keys of those skipped): a file whose (size, mtime, inode) match its
    cursor is not opened at all; ``cursors=None`` (a full refresh) reads every file. A file that
    vanished since it was listed is neither: the next sync sees the truth."""
    read, skipped = [], []
    for path in files:
        key = str(path.resolve())
        try:
            st = path.stat()
        except OSError:
            continue
        stored = FileCursor.from_json(cursors.get(key)) if cursors is not None else None
        if decide(stored, st.st_size, st.st_mtime_ns, st.st_ino) == "skip":
            skipped.append(key)
            continue
        read.append(WholeFile(path, key, FileCursor(st.st_size, st.st_mtime_ns, st.st_ino, st.st_size)))
    return read, skipped
