"""ChatGPT health: does the exports folder exist, and how many conversations.json exports it holds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from chitty_pipelines.kernel.local_files import LocalSessionsResource


def probe(resource: LocalSessionsResource) -> dict[str, Any]:
    folder = Path(resource.exports_dir)
    missing = resource.missing_folders("exports")
    if missing:  # named by the user but not there: an error to fix, not "not configured"
        return {"ok": False, "configured": True, "reason": missing[0]}
    if not folder.is_dir():
        return {
            "ok": None,
            "configured": False,
            "reason": f"{folder} does not exist (set CHITTY_EXPORTS_DIR)",
        }
    try:
        files = sum(1 for _ in resource.chatgpt_exports())
    except OSError as exc:
        return {"ok": False, "configured": True, "reason": f"{folder} is not readable ({exc.strerror})"}
    return {"ok": True, "configured": True, "reason": f"{files} file(s) under {folder}", "files": files}
