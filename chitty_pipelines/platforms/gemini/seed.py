"""Demo data for Gemini: a Google Takeout ``My Activity.json`` with two Gemini Apps prompts (one
session) and one item of another product, which the sync filters out."""

from __future__ import annotations

from pathlib import Path

from chitty_pipelines.platforms.gemini.fake import other_item, prompt_item
from chitty_pipelines.platforms.gemini.fake import write_activity as _write

TILES = "How should the atlas map tiles be cached?"
NAMES = "Name ideas for the atlas project"


def write_activity(exports: Path) -> Path:
    return _write(
        exports,
        [  # Takeout lists the newest first
            prompt_item(
                "2026-10-04T09:12:00.000Z",
                "How should the atlas map tiles be cached?",
                "Cache by zoom level.",
            ),
            prompt_item(
                "2026-10-04T09:05:00.000Z", "Name ideas for the atlas project", "Atlas, Meridian, Compass."
            ),
            other_item("2026-10-04T09:00:00.000Z", "Search", "Searched for duckdb"),
        ],
    )
