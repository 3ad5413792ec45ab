"""Demo data for Claude Code: two sessions (in the ledger and atlas working directories) written
as Claude Code writes them, under ``<claude home>/projects/<encoded cwd>/<session>.jsonl``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from chitty_pipelines.platforms.claude_code.fake import write_jsonl

SESSIONS = (
    ("ledger", "Add an evidence export to the ledger", "Added `ledger export` with tests."),
    ("atlas", "Sketch the atlas data model", "Here is a first schema for atlas."),
)


def _claude_lines(session: str, cwd: str, prompt: str, answer: str, n: int) -> list[dict[str, Any]]:
    base = {"sessionId": session, "cwd": cwd, "gitBranch": "main", "version": "2.1.38", "isSidechain": False}
    user = {
        **base,
        "type": "user",
        "uuid": f"{session}-u",
        "parentUuid": None,
        "timestamp": f"2026-10-0{n + 1}T10:00:00.000Z",
        "message": {"role": "user", "content": prompt},
    }
    assistant = {
        **base,
        "type": "assistant",
        "uuid": f"{session}-a",
        "parentUuid": f"{session}-u",
        "timestamp": f"2026-10-0{n + 1}T10:00:05.000Z",
        "requestId": f"req_{session}",
        "message": {
            "id": f"msg_{session}",
            "type": "message",
            "role": "assistant",
            "model": "claude-opus-4-6",
            "content": [{"type": "text", "text": answer}],
            "usage": {"input_tokens": 12, "output_tokens": 30 + n, "cache_read_input_tokens": 4},
        },
    }
    return [user, assistant]


def write_sessions(claude_home: Path) -> Path:
    for n, (project, prompt, answer) in enumerate(SESSIONS):
        folder = claude_home / "projects" / f"-work-{project}"
        folder.mkdir(parents=True, exist_ok=True)
        session = f"22222222-0000-4000-8000-00000000000{n + 1}"
        lines = _claude_lines(session, f"/work/{project}", prompt, answer, n)
        write_jsonl(folder / f"{session}.jsonl", lines)
        if project == "ledger":  # Claude Code's todos/ state file, for unified.todos
            todos = claude_home / "todos"
            todos.mkdir(parents=True, exist_ok=True)
            items = [
                {"content": "Add ledger export", "status": "completed", "activeForm": "Adding ledger export"},
                {"content": "Document the export format", "status": "pending", "activeForm": "Documenting"},
            ]
            (todos / f"{session}-agent-{session}.json").write_text(json.dumps(items))
    return claude_home
