"""The files the original wrote to the chittychat-data repository (contracts §1.3, §7), computed
from the unified tables: ``consolidated/<project>/state.json`` and ``todos/<project>/todos.json``.

Every timestamp in them comes from the data (the latest session or todo activity), never from the
clock, so publishing unchanged data twice yields no diff and no empty commit.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from chitty_pipelines.unified.entity_tables import PROJECTS, SESSIONS
from chitty_pipelines.unified.feed_reader import existing_tables
from chitty_pipelines.unified.feed_reader import rows_of as _rows
from chitty_pipelines.unified.todo_tables import PROJECT_TODOS, TODOS
from chitty_pipelines.warehouse import Warehouse

_SAFE_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class PublishInputError(ValueError):
    pass


def _iso(value: Any) -> str | None:
    # UTC whatever the warehouse session's time zone, so the files do not depend on the machine.
    if not isinstance(value, datetime):
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _latest(*values: Any) -> datetime | None:
    dated = [v for v in values if isinstance(v, datetime)]
    return max(dated) if dated else None


def _todo_json(t: dict[str, Any]) -> dict[str, Any]:
    """The TodoWrite item shape with the original's merge fields; absent fields are left out."""
    item = {
        "content": t["content"],
        "status": t["status"],
        "activeForm": t["active_form"],
        "addedBy": t["added_by"],
        "addedAt": _iso(t["added_at"]),
        "updatedBy": t["updated_by"],
        "updatedAt": _iso(t["updated_at"]),
    }
    return {k: v for k, v in item.items() if v is not None}


def _dump(value: Any) -> bytes:
    return (json.dumps(value, indent=2, ensure_ascii=False) + "\n").encode()


def consolidated_files(wh: Warehouse, project: str | None = None) -> dict[str, bytes]:
    """path -> content for every project with sessions or todos (or only ``project``)."""
    with wh.connect() as con:
        have = existing_tables(con)
        if "unified.projects" not in have:
            raise PublishInputError("unified.projects is empty: run `chitty-sync syncall` first")
        projects = {r["project_key"]: r for r in _rows(con, f"SELECT * FROM {PROJECTS.sql_name}")}
        sessions = (
            _rows(con, f"SELECT * FROM {SESSIONS.sql_name} WHERE project_key IS NOT NULL AND NOT is_subagent "
                       "ORDER BY started_at NULLS LAST, session_key")
            if "unified.sessions" in have else []
        )  # fmt: skip
        todos = (
            _rows(con, f"SELECT * FROM {TODOS.sql_name} WHERE project_key IS NOT NULL "
                       "ORDER BY added_at NULLS LAST, content")
            if "unified.todos" in have else []
        )  # fmt: skip
        summaries = (
            {r["project_key"]: r for r in _rows(con, f"SELECT * FROM {PROJECT_TODOS.sql_name}")}
            if "unified.project_todos" in have
            else {}
        )
    if project is not None and project not in projects:
        raise PublishInputError(f"unknown project {project!r} (see unified.projects)")
    by_project: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for s in sessions:
        by_project.setdefault(s["project_key"], {"sessions": [], "todos": []})["sessions"].append(s)
    for t in todos:
        by_project.setdefault(t["project_key"], {"sessions": [], "todos": []})["todos"].append(t)
    files: dict[str, bytes] = {}
    for key in sorted(by_project):
        if project is not None and key != project:
            continue
        if not _SAFE_KEY.match(key) or ".." in key:
            continue  # never a path outside the project's folder
        p, rows = projects.get(key) or {"name": key}, by_project[key]
        last_session = _latest(*(s["last_active_at"] for s in rows["sessions"]))
        last_todo = _latest(
            *(summaries.get(key, {}).get("last_sync"), *(t["last_seen_at"] for t in rows["todos"]))
        )
        at = _iso(_latest(last_session, last_todo))
        items = [_todo_json(t) for t in rows["todos"]]
        if items:
            files[f"todos/{key}/todos.json"] = _dump(
                {"projectName": p["name"], "todos": items, "updatedAt": _iso(last_todo)}
            )
        paths = list(p.get("paths") or [])
        files[f"consolidated/{key}/state.json"] = _dump(
            {
                "projectName": p["name"],
                "projectPath": p.get("registered_path") or (paths[0] if paths else None),
                "totalSessions": len(rows["sessions"]),
                "sessions": [
                    {
                        "sessionId": s["session_key"],
                        "platform": s["platform"],
                        "aiTool": s["ai_tool"],
                        "created": _iso(s["started_at"]),
                        "modified": _iso(s["last_active_at"]),
                        "entryCount": s["message_count"],
                    }
                    for s in rows["sessions"]
                ],
                "consolidatedTodos": [
                    {
                        **item,
                        "timestamp": _iso(t["updated_at"] or t["added_at"]),
                        "sessionId": t["updated_by"] or t["added_by"],
                    }
                    for item, t in zip(items, rows["todos"], strict=True)
                ],
                "lastActivity": _iso(last_session),
                "consolidatedAt": at,
                "dataType": "consolidated-state",
                "syncedAt": at,
            }
        )
    return files
