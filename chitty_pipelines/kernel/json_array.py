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

    def __init__(self, raw: IO[bytes]):
        self._raw = raw
        self.bytes_read = 0

    def read(self, size: int = -1) -> bytes:
        chunk = self._raw.read(size)
        self.bytes_read += len(chunk)
        return chunk


def iter_items(fh: Any) -> Iterator[Any]:
    """Each element of the top-level JSON array, fully built one at a time (memory is bounded by
    the largest element, not the file). Raises ``ijson.JSONError`` on malformed input."""
    yield from ijson.items(fh, "item", use_float=True)
