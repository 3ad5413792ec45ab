"""Demo data for ChatGPT: one export (``conversations.json``) with one two-message conversation."""

from __future__ import annotations

import json
from pathlib import Path


def write_export(exports: Path) -> Path:
    exports.mkdir(parents=True, exist_ok=True)
    conversation = {
        "id": "demo-conv-1",
        "title": "Ledger evidence formats",
        "create_time": 1790000000.0,
        "update_time": 1790000100.0,
        "current_node": "n2",
        "mapping": {
            "root": {"id": "root", "message": None, "parent": None, "children": ["n1"]},
            "n1": {
                "id": "n1",
                "parent": "root",
                "children": ["n2"],
                "message": {
                    "id": "n1",
                    "author": {"role": "user"},
                    "create_time": 1790000001.0,
                    "content": {"content_type": "text", "parts": ["Which format for ledger evidence?"]},
                },
            },
            "n2": {
                "id": "n2",
                "parent": "n1",
                "children": [],
                "message": {
                    "id": "n2",
                    "author": {"role": "assistant"},
                    "create_time": 1790000002.0,
                    "content": {"content_type": "text", "parts": ["JSON with a content hash."]},
                    "metadata": {"model_slug": "gpt-4o"},
                },
            },
        },
    }
    path = exports / "conversations.json"
    path.write_text(json.dumps([conversation]))
    return path
