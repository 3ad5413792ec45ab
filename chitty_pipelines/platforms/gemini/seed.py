"""Demo data for Gemini: a Google Takeout ``My Activity.json`` with two Gemini Apps prompts (one
session) and one item of another product, which the sync filters out."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def _prompt(time: str, text: str, answer: str) -> dict[str, Any]:
    return {
        "header": "Gemini Apps",
        "title": f"Prompted {text}",
        "time": time,
        "products": ["Gemini Apps"],
        "activityControls": ["Gemini Apps Activity"],
        "safeHtmlItem": [{"html": f"<p>{answer}</p>"}],
    }


def write_activity(exports: Path) -> Path:
    items = [  # Takeout lists the newest first
        _prompt(
            "2026-10-04T09:12:00.000Z", "How should the atlas map tiles be cached?", "Cache by zoom level."
        ),
        _prompt("2026-10-04T09:05:00.000Z", "Name ideas for the atlas project", "Atlas, Meridian, Compass."),
        {"header": "Search", "title": "Searched for duckdb", "time": "2026-10-04T09:00:00.000Z"},
    ]
    path = exports / "Takeout" / "My Activity" / "Gemini Apps" / "My Activity.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(items))
    return path
