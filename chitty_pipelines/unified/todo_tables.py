"""The ``unified`` todo tables: merged todos per project, and one summary row per project."""

from __future__ import annotations

import dagster as dg

from chitty_pipelines.warehouse import TableSpec, cols

SCHEMA = "unified"
TODOS_KEY = dg.AssetKey(["unified", "todos"])
PROJECT_TODOS_KEY = dg.AssetKey(["unified", "project_todos"])

TODOS = TableSpec(
    SCHEMA,
    "todos",
    cols(
        ("project_key", "VARCHAR", "unified.projects key; null: sessions linked to no project"),
        ("content", "VARCHAR", "the merge key (contracts §7): one row per distinct content per project"),
        ("status", "VARCHAR", "pending | in_progress | completed: the highest any session reported"),
        ("is_open", "BOOLEAN", "status is not completed"),
        ("active_form", "VARCHAR", "latest activeForm reported"),
        ("priority", "VARCHAR", "latest priority (early TodoWrite versions)"),
        ("added_by", "VARCHAR", "session_key of the first session that listed the item"),
        ("added_by_tool", "VARCHAR", "that session's AI tool"),
        ("added_at", "TIMESTAMPTZ", "when the item was first listed"),
        ("updated_by", "VARCHAR", "session_key that set the current status; null if never changed"),
        ("updated_by_tool", "VARCHAR"),
        ("updated_at", "TIMESTAMPTZ", "when the current status was first reported"),
        ("first_status", "VARCHAR", "status when added"),
        ("sessions", "VARCHAR[]", "every session_key that listed the item"),
        ("session_count", "BIGINT"),
        ("snapshots", "BIGINT", "todo lists (TodoWrite calls, state files) that contained the item"),
        ("sources", "VARCHAR[]", "transcript | todos | tasks"),
        ("last_seen_at", "TIMESTAMPTZ"),
        ("built_at", "TIMESTAMPTZ"),
    ),
    primary_key=("project_key", "content"),
    description="Every AI tool todo merged per project by content (contracts §7): "
    "completed > in_progress > pending, with who added and who last changed each item.",
)

PROJECT_TODOS = TableSpec(
    SCHEMA,
    "project_todos",
    cols(
        ("project_key", "VARCHAR", "null: todos of sessions linked to no project"),
        ("project_name", "VARCHAR"),
        ("todo_count", "BIGINT"),
        ("open_count", "BIGINT", "pending + in_progress"),
        ("pending_todos", "BIGINT"),
        ("in_progress_todos", "BIGINT"),
        ("completed_todos", "BIGINT"),
        ("sessions", "VARCHAR[]", "sessions that contributed todos"),
        ("total_updates", "BIGINT", "todo lists merged (TodoWrite calls and state files)"),
        ("last_sync", "TIMESTAMPTZ", "latest todo list observed"),
        ("built_at", "TIMESTAMPTZ"),
    ),
    primary_key=("project_key",),
    description="One row per project with todos: the counts GET /api/todos answered (contracts §1.2).",
)
