"""Per-file sync cursors: skip unchanged files, resume grown ones, re-read replaced ones.

Stored in ``ops.sync_cursors`` under the file's path, written in the same transaction as the
rows read from the file (session-formats.md §1.14).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
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
