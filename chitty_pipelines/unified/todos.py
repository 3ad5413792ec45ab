"""``unified/todos`` and ``unified/project_todos``: every AI tool todo list merged per project with
the original's rules (todo_merge.py), projects taken from what unified/sessions resolved.

Sources: Claude Code's TodoWrite calls in transcripts, its todos/ state files and tasks/ files
(all in ``raw_local.claude_todos``). ChatGPT and Gemini exports carry no todo lists.
"""

# No ``from __future__ import annotations``: Dagster reads the resource annotations.
import time
from datetime import UTC, datetime
from typing import Any

import dagster as dg

from chitty_pipelines.kernel.assets import StreamStats, is_full_refresh, log_sync, table_metadata
from chitty_pipelines.unified.entity_tables import PROJECTS, SESSIONS
from chitty_pipelines.unified.project_sources import _rows, existing_tables
from chitty_pipelines.unified.projects import GROUP, PROJECTS_KEY
from chitty_pipelines.unified.sessions import SESSIONS_KEY
from chitty_pipelines.unified.todo_checks import UNIFIED_TODO_CHECKS
from chitty_pipelines.unified.todo_merge import TodoObservation, merge, normalize, project_summaries
from chitty_pipelines.unified.todo_tables import PROJECT_TODOS, PROJECT_TODOS_KEY, TODOS, TODOS_KEY
from chitty_pipelines.warehouse import Warehouse
from chitty_pipelines.warehouse.resource import WarehouseResource

RAW_TODOS_KEY = dg.AssetKey(["raw_local", "claude_todos"])

RAW_SQL = """
SELECT source_file, line_no, block, position, source, session_id, agent_id, content, status,
       active_form, priority, observed_at
FROM raw_local.claude_todos
"""


# Bump when the merge rules or the tables change: a stored fingerprint of another version rebuilds.
MERGE_VERSION = "1"
_FINGERPRINTS = {
    "raw_local.claude_todos": "SELECT count(*), bit_xor(hash(source_file, line_no, block, position, "
    "session_id, agent_id, content, status, active_form, priority, observed_at)) FROM raw_local.claude_todos",
    "unified.sessions": "SELECT count(*), bit_xor(hash(session_key, project_key, ai_tool)) "
    "FROM unified.sessions",
    "unified.projects": "SELECT count(*), bit_xor(hash(project_key, name)) FROM unified.projects",
}


def inputs_fingerprint(wh: Warehouse) -> str:
    """One scan of each input (no merge, no write): the rows the merge would read, the session ->
    project links and the project names. Equal fingerprints mean an equal result."""
    parts = [MERGE_VERSION]
    with wh.connect() as con:
        have = existing_tables(con)
        for table, sql in _FINGERPRINTS.items():
            if table not in have:
                parts.append(f"{table}:absent")
            else:
                n, x = con.execute(sql).fetchone()
                parts.append(f"{table}:{n}:{x}")
    return "|".join(parts)


def claude_session_key(session_id: str, agent_id: str | None) -> str:
    """The unified.sessions key of the (sub)agent that wrote a list; the main agent's todos/ file
    names itself ``<session>-agent-<session>``."""
    if agent_id and agent_id != session_id:
        return f"claude:{session_id}#agent-{agent_id}"
    return f"claude:{session_id}"


def read_observations(wh: Warehouse) -> tuple[list[TodoObservation], int, dict[str, str]]:
    """Usable todo items with their project and session, the number of unusable items (no content
    or an unknown status), and project names."""
    with wh.connect() as con:
        have = existing_tables(con)
        if "raw_local.claude_todos" not in have:
            return [], 0, {}
        raw = _rows(con, RAW_SQL)
        sessions = (
            {r["session_key"]: r for r in _rows(
                con, f"SELECT session_key, project_key, ai_tool, parent_session_key FROM {SESSIONS.sql_name}"
            )}
            if "unified.sessions" in have else {}
        )  # fmt: skip
        names = (
            dict(con.execute(f"SELECT project_key, name FROM {PROJECTS.sql_name}").fetchall())
            if "unified.projects" in have
            else {}
        )
    observations, skipped = [], 0
    for r in raw:
        item = normalize(r["content"], r["status"])
        if item is None or not r["session_id"]:
            skipped += 1
            continue
        key = claude_session_key(r["session_id"], r["agent_id"])
        # A subagent's todos belong to its parent's project (as unified.sessions links them).
        parent = sessions.get(f"claude:{r['session_id']}") or {}
        session = sessions.get(key) or parent
        observations.append(
            TodoObservation(
                project_key=parent.get("project_key"),
                session_key=key,
                ai_tool=session.get("ai_tool") or "claude",
                observed_at=r["observed_at"],
                list_id=f"{r['source_file']}:{r['line_no']}:{r['block']}",
                position=int(r["position"] or 0),
                source=r["source"],
                content=item[0],
                status=item[1],
                active_form=r["active_form"],
                priority=r["priority"],
            )
        )
    return observations, skipped, names


@dg.multi_asset(
    name="unified_todos",
    specs=[
        dg.AssetSpec(
            TODOS_KEY,
            group_name=GROUP,
            kinds={"duckdb"},
            deps=[RAW_TODOS_KEY, SESSIONS_KEY, PROJECTS_KEY],
            description=TODOS.description,
            metadata={"dagster/table_name": TODOS.qualified, "dagster/column_schema": TODOS.dagster_schema()},
        ),
        dg.AssetSpec(
            PROJECT_TODOS_KEY,
            group_name=GROUP,
            kinds={"duckdb"},
            deps=[TODOS_KEY],
            description=PROJECT_TODOS.description,
            metadata={
                "dagster/table_name": PROJECT_TODOS.qualified,
                "dagster/column_schema": PROJECT_TODOS.dagster_schema(),
            },
        ),
    ],
    description="Merge every todo list per project (key content; completed > in_progress > pending).",
)
def unified_todos(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    started = datetime.now(UTC)
    t0 = time.monotonic()
    wh = warehouse.get()
    fingerprint = inputs_fingerprint(wh)
    unchanged = wh.cursors("unified", "todos").get("fingerprint") == fingerprint
    built = wh.table_exists("unified", "todos") and wh.table_exists("unified", "project_todos")
    if unchanged and built and not is_full_refresh(context):
        # Nothing the merge reads changed since the last build: the stored tables are its result.
        context.log.info("unified todos: no change in todo lists, sessions or projects; nothing rebuilt")
        for key, table in ((TODOS_KEY, TODOS), (PROJECT_TODOS_KEY, PROJECT_TODOS)):
            stats = StreamStats(
                extra={"skipped_no_change": True, "duration_s": round(time.monotonic() - t0, 3)}
            )
            yield dg.MaterializeResult(asset_key=key, metadata=table_metadata(wh, table, stats))
        return
    observations, skipped, names = read_observations(wh)
    merged = merge(observations)
    todo_rows: list[dict[str, Any]] = [{**t.row(), "built_at": started} for t in merged]
    project_rows = [{**p, "built_at": started} for p in project_summaries(observations, merged, names)]
    with wh.transaction(context.run.run_id) as tx:
        # Derived from the whole history every run: correctness first (a merge is order-sensitive
        # for added_by/updated_by, so patching only changed lists could not stay exact).
        for table, rows in ((TODOS, todo_rows), (PROJECT_TODOS, project_rows)):
            tx.ensure(table)
            tx.con.execute(f"DELETE FROM {table.sql_name}")
            tx.upsert(table, rows)
        tx.set_cursor("unified", "todos", "fingerprint", fingerprint)
    open_count = sum(1 for t in merged if t.status != "completed")
    extra = {
        "lists_merged": len({o.list_id for o in observations}),
        "items_read": len(observations),
        "items_skipped": skipped,
        "open_todos": open_count,
        "projects_with_todos": sum(1 for p in project_rows if p["project_key"]),
        "unassigned_todos": sum(1 for t in merged if t.project_key is None),
        "skipped_no_change": False,
        "duration_s": round(time.monotonic() - t0, 3),
    }
    context.log.info(f"unified todos: {len(merged)} todos ({open_count} open) from {len(observations)} items")
    outputs = ((TODOS_KEY, TODOS, len(todo_rows)), (PROJECT_TODOS_KEY, PROJECT_TODOS, len(project_rows)))
    for key, table, n in outputs:
        stats = StreamStats(rows_written=n, extra=extra)
        log_sync(wh, context, platform="unified", asset=key.to_user_string(), started_at=started,
                 status="success", stats=stats)  # fmt: skip
        yield dg.MaterializeResult(asset_key=key, metadata=table_metadata(wh, table, stats))


defs = dg.Definitions(assets=[unified_todos], asset_checks=UNIFIED_TODO_CHECKS)
