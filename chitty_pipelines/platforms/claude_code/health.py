"""Claude Code health: is there a readable ``projects/`` folder under any configured Claude home."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from chitty_pipelines.kernel.local_files import LocalSessionsResource


def probe(resource: LocalSessionsResource) -> dict[str, Any]:
    missing = resource.missing_folders("claude")
    if missing:
        # Named by the user but not there. Reported as "not configured" (ok None) with the
        # variable in the reason: ChittyCheck scores that as SKIP, while the sync step itself
        # fails with the same message, so the run is not green.
        return {"ok": None, "configured": False, "reason": "; ".join(missing)}
    roots = resource.claude_roots()
    found = [r for r in roots if (r / "projects").is_dir()]
    if not found:
        homes = ", ".join(map(str, roots))
        return {
            "ok": None,
            "configured": False,
            "reason": f"no projects/ folder under {homes} (set CLAUDE_HOME)",
        }
    readable = [r for r in found if _listable(r / "projects")]
    if not readable:
        return {"ok": False, "configured": True, "reason": f"{found[0]}/projects is not readable"}
    return {"ok": True, "configured": True, "reason": f"reading {', '.join(map(str, readable))}"}


def _listable(path: Path) -> bool:
    try:
        next(iter(path.iterdir()), None)
        return True
    except OSError:
        return False
