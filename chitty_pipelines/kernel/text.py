"""Text from outside made storable: lone UTF-16 surrogates (JavaScript's JSON.stringify writes
``"\\udc80"`` for one, and Python's json accepts it) cannot be encoded as UTF-8, so SQLite and
httpx raise on them; PostgreSQL text cannot hold U+0000. One bad character must not cost a whole
event (a Claude Code todo list), so both are replaced, never refused."""

from __future__ import annotations

import re
from typing import Any

_BAD = re.compile("[\ud800-\udfff\x00]")
_SURROGATES = re.compile("[\ud800-\udfff]")


def clean_text(value: str, *, keep_nul: bool = False) -> str:
    """``value`` with lone surrogates and NUL replaced by U+FFFD (a valid pair is kept: Python
    holds it as one code point, never as two surrogates). ``keep_nul``: for text stored as JSON,
    where U+0000 is written escaped and reads back as sent."""
    return (_SURROGATES if keep_nul else _BAD).sub("\ufffd", value)


def clean_json(value: Any, *, keep_nul: bool = False) -> Any:
    """``clean_text`` applied to every string (keys too) of a parsed JSON value."""
    if isinstance(value, str):
        return clean_text(value, keep_nul=keep_nul)
    if isinstance(value, dict):
        return {
            clean_text(k, keep_nul=keep_nul) if isinstance(k, str) else k: clean_json(v, keep_nul=keep_nul)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [clean_json(v, keep_nul=keep_nul) for v in value]
    return value


__all__ = ["clean_json", "clean_text"]
