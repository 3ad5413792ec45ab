"""Incremental JSON Lines reading by byte offset (session-formats.md §1.3, §1.14).

A live transcript is appended to while we read it, so the reader only ever hands out complete
lines and says exactly how far it got (byte offset and line number). The caller stores that
position in the same transaction as the rows, and the next sync resumes from it.

A last line without a newline is taken only when it already parses as JSON (fixtures and
exported files often lack the final newline); otherwise it is a half-written line that is
neither consumed nor rejected, and the next sync picks it up once complete.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import orjson

READ_SIZE = 4 << 20  # bytes per read() call; lines are split out of these buffers
BOM = b"\xef\xbb\xbf"  # editors on Windows start UTF-8 files with it; it is not part of the JSON


@dataclass
class LineBlock:
    """Complete lines read from one file, and the position just past them."""

    lines: list[tuple[int, bytes]] = field(default_factory=list)  # (1-based line number, bytes)
    end_offset: int = 0
    end_line_no: int = 0
    bytes_read: int = 0  # bytes consumed into complete lines by this block
    eof: bool = False  # no more blocks follow (the rest, if any, is a pending partial line)
    pending_tail: int = 0  # bytes of a half-written last line left for the next sync


def iter_line_blocks(
    path: Path | str,
    offset: int,
    line_no: int,
    limit: int,
    block_bytes: int = 32 << 20,
) -> Iterator[LineBlock]:
    """Yield blocks of complete lines of ``path`` from byte ``offset`` up to byte ``limit``.

    ``line_no`` is the number of lines before ``offset``. ``limit`` is the size the caller saw
    when it planned the read, so bytes appended meanwhile are left for the next sync (whose
    cursor then still differs from the file's size and mtime). Each block holds at least
    ``block_bytes`` of lines unless it is the last, so the caller can commit large files in
    several transactions with an exact cursor after each.
    """
    with open(path, "rb") as fh:
        drop_newline = False
        if offset > 0:
            # A line consumed without its newline (see module doc): the newline that later
            # completes it must not count as another (empty) line.
            fh.seek(offset - 1)
            drop_newline = fh.read(1) != b"\n"
        pos = offset
        carry = b""
        first = offset == 0  # only a file's very first line may start with a byte-order mark
        block = LineBlock(end_offset=offset, end_line_no=line_no)
        while pos < limit:
            data = fh.read(min(READ_SIZE, limit - pos))
            if not data:
                break  # the file shrank under us; what we have is still exact
            pos += len(data)
            buf = carry + data if carry else data
            last_nl = buf.rfind(b"\n")
            if last_nl < 0:
                carry = buf
                continue
            carry = buf[last_nl + 1 :]
            segments = buf[:last_nl].split(b"\n")
            if drop_newline:
                drop_newline = False
                if segments[0] == b"":
                    block.end_offset += 1
                    block.bytes_read += 1
                    segments = segments[1:]
            for seg in segments:
                block.end_line_no += 1
                block.end_offset += len(seg) + 1
                block.bytes_read += len(seg) + 1
                if seg.endswith(b"\r"):
                    seg = seg[:-1]
                if first:
                    first = False
                    seg = seg.removeprefix(BOM)  # counted in the offset above, not parsed
                if seg.strip():
                    block.lines.append((block.end_line_no, seg))
                if block.bytes_read >= block_bytes:
                    yield block
                    block = LineBlock(end_offset=block.end_offset, end_line_no=block.end_line_no)
        if carry:
            tail = carry[:-1] if carry.endswith(b"\r") else carry
            if first:
                tail = tail.removeprefix(BOM)
            if drop_newline and not tail.strip():
                block.end_offset += len(carry)
                block.bytes_read += len(carry)
            elif _is_complete_json(tail):
                block.end_line_no += 1
                block.end_offset += len(carry)
                block.bytes_read += len(carry)
                block.lines.append((block.end_line_no, tail))
            else:
                block.pending_tail = len(carry)
        block.eof = True
        yield block


def _is_complete_json(data: bytes) -> bool:
    if not data.strip():
        return False
    try:
        orjson.loads(data)
    except orjson.JSONDecodeError:
        return False
    return True
