"""Claude Code's todo and task state files -> ``claude_todos`` rows (session-formats.md §1.12).

* ``todos/<sessionId>-agent-<agentId>.json``: a JSON array of TodoWrite items (legacy).
* ``tasks/<taskListId>/<n>.json``: one Task* tool item per file (v2.1.16+), ``source='tasks'``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import orjson

from chitty_pipelines.platforms.claude_code.rows import todo_rows

_TODO_NAME = re.compile(r"^(?P<session>.+?)-agent-(?P<agent>.+)\.json$")


def parse_state_file(path: Path, folder: str, mtime_ns: int) -> tuple[list[tuple], str | None]:
    """Rows for one state file, or an error reason (the file then goes to ops.rejects)."""
    try:
        value = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as exc:
        return [], "invalid UTF-8" if "UTF-8" in str(exc) else f"invalid JSON: {exc}"
    except OSError as exc:  # vanished or unreadable: say so, the next sync tries again
        return [], f"unreadable: {exc.strerror}"
    observed = datetime.fromtimestamp(mtime_ns / 1e9, UTC).isoformat()
    source_file = str(path)
    if folder == "todos":
        if not isinstance(value, list):
            return [], "todos file is not a JSON array"
        m = _TODO_NAME.match(path.name)
        session, agent = (m.group("session"), m.group("agent")) if m else (path.stem, None)
        return todo_rows(value, source_file, 0, 0, "todos", session, agent, session, None, observed), None
    if not isinstance(value, dict):
        return [], "task file is not a JSON object"
    list_id = path.parent.name
    rows = todo_rows([value], source_file, 0, 0, "tasks", list_id, None, list_id, None, observed)
    if rows and rows[0][9] is None:  # item_id: tasks are named by their file when the id is absent
        rows[0] = (*rows[0][:9], path.stem, *rows[0][10:])
    return rows, None
