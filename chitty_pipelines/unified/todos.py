"""``unified/todos`` and ``unified/project_todos``: every AI tool todo list merged per project with
the original's rules (todo_merge.py), projects taken from what unified/sessions resolved.

Sources: every platform's todo feeds (kernel/feeds.py; today Claude Code's TodoWrite lists,
todos/ and tasks/ files, and the ``sync:todos:*`` keys of Cloudflare KV), and the lists posted to
the sync API (``PUT /api/todos/:project/sync``), read from the hub store.
"""

# No ``from __future__ import annotations``: Dagster reads the resource annotations.
import hashlib
import time
from datetime import UTC, datetime
from typing import Any

import dagster as dg

from chitty_pipelines.kernel.assets import (
    StreamStats,
    is_full_refresh,
    log_sync,
    table_asset_spec,
    table_metadata,
)
from chitty_pipelines.kernel.platform_asset import check_specs_of, with_checks
from chitty_pipelines.unified import feed_reader
from chitty_pipelines.unified.entity_tables import PROJECTS, SESSIONS
from chitty_pipelines.unified.projects import GROUP, PROJECTS_KEY
from chitty_pipelines.unified.sessions import SESSIONS_KEY
from chitty_pipelines.unified.todo_checks import TODO_CHECKS
from chitty_pipelines.unified.todo_merge import TodoObservation, merge, normalize, project_summaries
from chitty_pipelines.unified.todo_tables import PROJECT_TODOS, PROJECT_TODOS_KEY, TODOS, TODOS_KEY
from chitty_pipelines.warehouse import Warehouse
from chitty_pipelines.warehouse.hubstore import HubStore
from chitty_pipelines.warehouse.opstore_resource import OpStoreResource
from chitty_pipelines.warehouse.resource import WarehouseResource

# Bump when the merge rules or the tables change: a stored fingerprint of another version rebuilds.
MERGE_VERSION = "2"
_LINKS = {
    "unified.sessions": "SELECT count(*), bit_xor(hash(session_key, project_key, ai_tool)) "
    "FROM unified.sessions",
    "unified.projects": "SELECT count(*), bit_xor(hash(project_key, name)) FROM unified.projects",
}


def _todo_feeds():
    return feed_reader.feeds("todo")


def inputs_fingerprint(wh: Warehouse, hub: HubStore | None = None) -> str:
    """One scan of each input (no merge, no write): every todo feed's probe, the todo lists posted
    to the sync API, the session -> project links and the project names. Equal fingerprints mean
    an equal result."""
    parts = [MERGE_VERSION, f"hub:{hub.todo_fingerprint() if hub is not None else 'absent'}"]
    with wh.connect() as con:
        have = feed_reader.existing_tables(con)
        for feed in _todo_feeds():
            probe = feed_reader.probe(con, feed) if feed_reader.available(feed, have) else "absent"
            parts.append(f"{feed.name}:{probe}")
        for table, sql in _LINKS.items():
            if table not in have:
                parts.append(f"{table}:absent")
            else:
                n, x = con.execute(sql).fetchone()
                parts.append(f"{table}:{n}:{x}")
    return "|".join(parts)


def _project_id(project_key: str | None) -> str:
    """The key of a project's digest: ``none`` for the todos no project claims (NULL)."""
    return "none" if project_key is None else f"p:{project_key}"


def project_digests(observations: list[TodoObservation], names: dict[str, str]) -> dict[str, str]:
    """Per project, a digest of everything its merge reads: its items (in any order) and its
    name. Equal digests mean equal rows for that project."""
    per: dict[str | None, list[str]] = {}
    for o in observations:
        per.setdefault(o.project_key, []).append(repr(o))
    out = {}
    for project, items in per.items():
        h = hashlib.sha1(f"{MERGE_VERSION}\n{names.get(project or '')}".encode())
        for item in sorted(items):
            h.update(item.encode())
        out[_project_id(project)] = h.hexdigest()
    return out


def read_observations(
    wh: Warehouse, hub: HubStore | None = None
) -> tuple[list[TodoObservation], int, dict[str, str]]:
    """Usable todo items with their project and session, the number of unusable items (no content
    or an unknown status), and project names. ``hub``: the lists posted to the sync API too."""
    with wh.connect() as con:
        have = feed_reader.existing_tables(con)
        raw = [r for f in _todo_feeds() if feed_reader.available(f, have) for r in feed_reader.read(con, f)]
        sessions = (
            {r["session_key"]: r for r in feed_reader.rows_of(
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
        if item is None or not r["session_key"]:
            skipped += 1
            continue
        # A subagent's todos belong to its parent's project (as unified.sessions links them).
        parent = sessions.get(r["parent_session_key"] or r["session_key"]) or {}
        session = sessions.get(r["session_key"]) or parent
        observations.append(
            TodoObservation(
                project_key=parent.get("project_key") or session.get("project_key") or r["project_id"],
                session_key=r["session_key"],
                ai_tool=session.get("ai_tool") or r["ai_tool"] or r["platform"],
                observed_at=r["updated_at"],
                list_id=r["list_id"] or r["todo_key"],
                position=int(r["position"] or 0),
                source=r["source"] or r["platform"],
                content=item[0],
                status=item[1],
                active_form=r["active_form"],
                priority=r["priority"],
            )
        )
    for r in hub.todo_rows() if hub is not None else []:
        item = normalize(r["content"], r["status"])
        if item is None:
            skipped += 1
            continue
        # Sessions registered through the API are unified as registered:<id> (session_sources.py).
        key = f"registered:{r['session_id']}"
        session = sessions.get(key) or {}
        # The project the client named in the URL wins when unified knows it (it registers on use).
        project = r["project_key"] if r["project_key"] in names else session.get("project_key")
        observations.append(
            TodoObservation(
                project_key=project,
                session_key=key,
                ai_tool=session.get("ai_tool") or r["ai_tool"],
                observed_at=datetime.fromisoformat(r["observed_at"]),
                list_id=r["list_id"],
                position=int(r["position"]),
                source="api",
                content=item[0],
                status=item[1],
                active_form=r["active_form"],
            )
        )
    return observations, skipped, names


# The raw tables the todo feeds read (lineage in the UI; Dagster orders the steps by them).
_FEED_KEYS = sorted(
    {dg.AssetKey(f.source.split(".")) for f in _todo_feeds() if f.asset_dependency},
    key=lambda k: k.to_user_string(),
)


@dg.multi_asset(
    name="unified_todos",
    specs=[
        table_asset_spec(
            TODOS_KEY, TODOS, group=GROUP, deps=[*_FEED_KEYS, SESSIONS_KEY, PROJECTS_KEY], kinds={"duckdb"}
        ),
        table_asset_spec(PROJECT_TODOS_KEY, PROJECT_TODOS, group=GROUP, deps=[TODOS_KEY], kinds={"duckdb"}),
    ],
    check_specs=check_specs_of(TODO_CHECKS),
    can_subset=True,
    description="Merge every todo list per project (key content; completed > in_progress > pending).",
)
@with_checks(TODO_CHECKS)
def unified_todos(context: dg.AssetExecutionContext, warehouse: WarehouseResource, opstore: OpStoreResource):
    started = datetime.now(UTC)
    t0 = time.monotonic()
    wh = warehouse.get()
    hub = opstore.get()  # the todo lists posted to the sync API (SQLite, or the warehouse's ops schema)
    fingerprint = inputs_fingerprint(wh, hub)
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
    observations, skipped, names = read_observations(wh, hub)
    # The merge is per project (items are keyed by project and content): only the projects whose
    # items or name changed are merged and written again, the others' rows stay as they are.
    digests = project_digests(observations, names)
    stored = (
        {} if not built or is_full_refresh(context) else wh.cursors("unified", "todos").get("projects") or {}
    )
    changed = {p for p in digests.keys() | stored.keys() if digests.get(p) != stored.get(p)}
    mine = [o for o in observations if _project_id(o.project_key) in changed]
    merged = merge(mine)
    todo_rows: list[dict[str, Any]] = [{**t.row(), "built_at": started} for t in merged]
    project_rows = [{**p, "built_at": started} for p in project_summaries(mine, merged, names)]
    with wh.transaction(context.run.run_id) as tx:
        for table, rows in ((TODOS, todo_rows), (PROJECT_TODOS, project_rows)):
            tx.ensure(table)
            if stored:  # the changed projects' rows give way to their new merge
                keys = sorted(p.removeprefix("p:") for p in changed if p != "none")
                tx.delete_where(table, "project_key", keys)
                if "none" in changed:
                    tx.con.execute(f"DELETE FROM {table.sql_name} WHERE project_key IS NULL")
            else:  # first build, full refresh, or a build without digests: every row is rebuilt
                tx.con.execute(f"DELETE FROM {table.sql_name}")
            tx.upsert(table, rows)
        tx.set_cursors("unified", "todos", {"fingerprint": fingerprint, "projects": digests})
    # One read of the stored table: unchanged projects' rows count too.
    counts = wh.records(
        "SELECT count(*) AS total, count(*) FILTER (WHERE is_open) AS open, "
        f"count(*) FILTER (WHERE project_key IS NULL) AS unassigned FROM {TODOS.sql_name}"
    )[0]
    total, open_count = int(counts["total"]), int(counts["open"])
    extra = {
        "projects_rebuilt": len(changed),
        "projects_unchanged": len(digests.keys() - changed),
        "lists_merged": len({o.list_id for o in observations}),
        "items_read": len(observations),
        "items_skipped": skipped,
        "open_todos": open_count,
        "projects_with_todos": sum(1 for p in digests if p != "none"),
        "unassigned_todos": int(counts["unassigned"]),
        "skipped_no_change": False,
        "duration_s": round(time.monotonic() - t0, 3),
    }
    context.log.info(
        f"unified todos: {total} todos ({open_count} open) from {len(observations)} items; "
        f"{len(changed)} of {len(digests | stored)} projects merged again"
    )
    outputs = ((TODOS_KEY, TODOS, len(todo_rows)), (PROJECT_TODOS_KEY, PROJECT_TODOS, len(project_rows)))
    for key, table, n in outputs:
        stats = StreamStats(rows_written=n, extra=extra)
        log_sync(wh, context, platform="unified", asset=key.to_user_string(), started_at=started,
                 status="success", stats=stats)  # fmt: skip
        yield dg.MaterializeResult(asset_key=key, metadata=table_metadata(wh, table, stats))


defs = dg.Definitions(assets=[unified_todos])
