"""A tiny, known local corpus (two Claude Code sessions, one ChatGPT export) for end-to-end tests
of the CLI and of concurrent runs. Platform tests build their own, richer fixtures."""

from __future__ import annotations

import json
from pathlib import Path


def _assistant(uuid: str, parent: str, session: str, msg_id: str, text: str, out_tokens: int) -> dict:
    return {
        "type": "assistant",
        "uuid": uuid,
        "parentUuid": parent,
        "sessionId": session,
        "timestamp": "2026-11-01T10:00:01.000Z",
        "cwd": "/work/demo",
        "gitBranch": "main",
        "version": "2.1.38",
        "isSidechain": False,
        "requestId": f"req_{msg_id}",
        "message": {
            "id": msg_id,
            "type": "message",
            "role": "assistant",
            "model": "claude-opus-4-6",
            "content": [{"type": "text", "text": text}],
            "usage": {"input_tokens": 10, "output_tokens": out_tokens, "cache_read_input_tokens": 5},
        },
    }


def _user(uuid: str, session: str, text: str) -> dict:
    return {
        "type": "user",
        "uuid": uuid,
        "parentUuid": None,
        "sessionId": session,
        "timestamp": "2026-11-01T10:00:00.000Z",
        "cwd": "/work/demo",
        "gitBranch": "main",
        "version": "2.1.38",
        "isSidechain": False,
        "message": {"role": "user", "content": text},
    }


def write_local_corpus(root: Path) -> dict[str, Path]:
    """Writes ``root/claude/projects/...`` and ``root/exports/conversations.json``."""
    claude = root / "claude"
    project = claude / "projects" / "-work-demo"
    project.mkdir(parents=True)
    for n, session in enumerate(
        ("11111111-0000-4000-8000-000000000001", "11111111-0000-4000-8000-000000000002")
    ):
        lines = [
            _user(f"u{n}", session, "Add a sync command"),
            _assistant(f"a{n}", f"u{n}", session, f"msg_{n}", "Done.", 20 + n),
        ]
        (project / f"{session}.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    exports = root / "exports"
    exports.mkdir()
    conversation = {
        "id": "conv-1",
        "title": "Pipelines",
        "create_time": 1700000000.0,
        "update_time": 1700000100.0,
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
                    "create_time": 1700000001.0,
                    "content": {"content_type": "text", "parts": ["How do I backfill?"]},
                },
            },
            "n2": {
                "id": "n2",
                "parent": "n1",
                "children": [],
                "message": {
                    "id": "n2",
                    "author": {"role": "assistant"},
                    "create_time": 1700000002.0,
                    "content": {"content_type": "text", "parts": ["Use a partition range."]},
                    "metadata": {"model_slug": "gpt-4o"},
                },
            },
        },
    }
    (exports / "conversations.json").write_text(json.dumps([conversation]))
    return {"claude": claude, "exports": exports}
