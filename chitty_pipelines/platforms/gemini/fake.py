"""A fake Google Takeout export of Gemini Apps activity: ``My Activity.json`` as Takeout writes
it (session-formats.md, Gemini section): a list of activity items, newest first, where Gemini
prompts carry ``header: "Gemini Apps"`` and the answer as HTML. The local platforms read files,
so their "fake" is a builder of those files; tests and the demo seed write through it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

ACTIVITY_PATH = Path("Takeout") / "My Activity" / "Gemini Apps" / "My Activity.json"


def prompt_item(time: str, text: str, answer: str) -> dict[str, Any]:
    """One Gemini Apps prompt and its answer."""
    return {
        "header": "Gemini Apps",
        "title": f"Prompted {text}",
        "time": time,
        "products": ["Gemini Apps"],
        "activityControls": ["Gemini Apps Activity"],
        "safeHtmlItem": [{"html": f"<p>{answer}</p>"}],
    }


def other_item(time: str, header: str, title: str) -> dict[str, Any]:
    """Activity of another Google product (the sync filters it out)."""
    return {"header": header, "title": title, "time": time}


def write_activity(exports: Path, items: list[dict[str, Any]]) -> Path:
    path = exports / ACTIVITY_PATH
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(items))
    return path
