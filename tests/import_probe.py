"""Which modules a piece of code imports, in a fresh interpreter (this one has imported them all)."""

from __future__ import annotations

import json
import subprocess
import sys


def imported_by(code: str, watched: tuple[str, ...]) -> list[str]:
    """The modules of ``watched`` that are imported once ``code`` has run."""
    probe = (
        f"{code}\nimport json, sys\nprint(json.dumps(sorted(m for m in {watched!r} if m in sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])
