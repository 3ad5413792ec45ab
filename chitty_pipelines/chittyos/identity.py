"""ChittyID format and checksum (chittyos-contracts.md §4.5-4.6).

Layout ``VV-G-LLL-SSSS-T-YYMM-C-XX``. The checksum rule was inferred from the four real ids
published so far (no spec exists): concatenate the first seven fields, letters become A=10 …
Z=35, read as one integer N, and ``XX = 98 - (N mod 97)``; equivalently ``(N + XX) mod 97 == 1``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

CHITTY_ID = re.compile(r"^(\d{2})-([1-9])-([A-Z]{3})-(\d{4})-([PLTEA])-(\d{4})-([0-9])-(\d{2})$")


@dataclass(frozen=True)
class Validation:
    valid: bool
    reason: str = ""


def _numeric(fields: str) -> int:
    return int("".join(str(ord(ch) - 55) if ch.isalpha() else ch for ch in fields))


def checksum(first_seven_fields: str) -> str:
    """The two checksum digits for ``VV-G-LLL-SSSS-T-YYMM-C`` (hyphens optional)."""
    return f"{98 - _numeric(first_seven_fields.replace('-', '')) % 97:02d}"


def validate(chitty_id: str) -> Validation:
    if not isinstance(chitty_id, str):
        return Validation(False, "not a string")
    m = CHITTY_ID.match(chitty_id)
    if not m:
        return Validation(False, "does not match VV-G-LLL-SSSS-T-YYMM-C-XX")
    expected = checksum("".join(m.groups()[:7]))
    if m.group(8) != expected:
        return Validation(False, f"checksum {m.group(8)} does not match {expected}")
    return Validation(True)


def is_valid(chitty_id: str) -> bool:
    return validate(chitty_id).valid
