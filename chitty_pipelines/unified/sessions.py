"""``unified/sessions``: one row per AI session across tools, linked to its project, with usage and
a status (session_sources.py defines active / ended / stale).

Incremental (session_state.py): every platform feed and the operational store keep a high-water
mark in ops.sync_cursors, written in the same transaction as the rows. A run re-derives only the
sessions whose source rows changed, plus the active sessions the clock has made silent; with
nothing to do it writes nothing and says why in its metadata."""

# No ``from __future__ import annotations``: Dagster reads the config/resource annotations.
import hashlib
import json
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import dagster as dg
from pydantic import Field

from chitty_pipelines import config as settings
from chitty_pipelines.chittyos.ids import ChittyIdResource
from chitty_pipelines.kernel.assets import StreamStats, log_sync, table_asset_spec, table_metadata
from chitty_pipelines.kernel.platform_asset import check_specs_of, with_checks
from chitty_pipelines.unified import feed_reader
from chitty_pipelines.unified.entity_checks import SESSION_CHECKS
from chitty_pipelines.unified.entity_tables import PROJECT_ALIASES, PROJECTS, SESSIONS, SESSIONS_KEY
from chitty_pipelines.unified.feed_reader import existing_tables, rows_of
from chitty_pipelines.unified.ids import assign_ids, write_ids
from chitty_pipelines.unified.projects import ALIASES_KEY, GROUP, PROJECTS_KEY
from chitty_pipelines.unified.resolution import normalize_path
from chitty_pipelines.unified.session_sources import (
    REGISTERED_FEED,
    file_sessions,
    registered_changed_at,
    registered_sessions,
    session_status,
)
from chitty_pipelines.unified.session_state import FEED_KEYS, SESSION_SOURCES, Plan, plan, sessions_of
from chitty_pipelines.warehouse import Warehouse
from chitty_pipelines.warehouse.opstore_resource import OpStoreResource
from chitty_pipelines.warehouse.resource import WarehouseResource

# Every table a session feed reads, from the registry (not a list kept here).
UPSTREAM = [PROJECTS_KEY, ALIASES_KEY] + [
    dg.AssetKey(t.split("."))
    for t in dict.fromkeys(t for f in feed_reader.feeds("session") if f.asset_dependency for t in f.tables)
]
DEFAULT_TTL_S = 1800.0


def default_ttl() -> float:
    return settings.number("SESSION_TTL", DEFAULT_TTL_S)


class SessionsConfig(dg.Config):
    now: str | None = Field(
        default=None, description="Clock for the status (ISO 8601); unset: the time of the run."
    )
    ttl_seconds: float | None = Field(
        default=None,
        description="Seconds of silence after which a session is not active; unset: SESSION_TTL.",
    )
    full_refresh: bool = Field(default=False, description="Re-derive every session from every source.")


class ProjectLinker:
    """Session -> project by the aliases the projects asset stored."""

    def __init__(self, aliases: list[dict[str, Any]], project_keys: set[str]):
        self.project_keys = project_keys
        self.cwd = {(a["platform"], a["source_id"]): a for a in aliases}
        self.paths = {a["path"]: a["project_key"] for a in aliases if a["path"] and a["project_key"]}

    def by_cwd(self, platform: str, cwd: str | None) -> tuple[str | None, str]:
        """The working directory is itself a project alias of the session's platform."""
        alias = self.cwd.get((platform, cwd or ""))
        if alias is None:
            return None, "none"
        return alias["project_key"], "cwd" if alias["project_key"] else alias["rule"]

    def registered(self, project_hint: str | None, pwd: str | None) -> tuple[str | None, str]:
        if project_hint and project_hint in self.project_keys:
            return project_hint, "registered"
        path = normalize_path(pwd)
        if path:
            best = max(
                (p for p in self.paths if path == p or path.startswith(p + "/")), key=len, default=None
            )
            if best is not None:
                return self.paths[best], "registered_path"
        return None, "none"

    def digest(self) -> str:
        """Changes when any link could change: then every session is re-linked."""
        state = (
            sorted(self.project_keys),
            sorted(
                (a["platform"], a["source_id"], a["path"] or "", a["project_key"] or "", a["rule"])
                for a in self.cwd.values()
            ),
        )
        return hashlib.sha1(json.dumps(state, default=str).encode()).hexdigest()


def _link(rows: list[dict[str, Any]], linker: ProjectLinker, stored_parents: dict[str, tuple]) -> None:
    by_key = {r["session_key"]: r for r in rows}
    for r in rows:
        if r["link"] == "cwd" and not r["is_subagent"]:
            r["project_key"], r["project_rule"] = linker.by_cwd(r["platform"], r.get("project_hint"))
        elif r["link"] == "registered":
            r["project_key"], r["project_rule"] = linker.registered(r.get("project_hint"), r.get("pwd"))
        else:
            r["project_key"], r["project_rule"] = None, "none"
    for r in rows:  # subagents follow their parent, whatever rule linked it
        key = r.get("parent_session_key") or ""
        parent = by_key.get(key)
        if r["is_subagent"] and parent is not None:
            r["project_key"], r["project_rule"] = parent["project_key"], "parent"
        elif r["is_subagent"] and key in stored_parents:  # a parent that did not change this run
            r["project_key"], r["project_rule"] = stored_parents[key][0], "parent"


def build_rows(
    rows: list[dict[str, Any]], ids: dict[str, tuple[str, str]], now: datetime, ttl_s: float
) -> list[dict[str, Any]]:
    out = []
    for r in rows:
        status, ended = session_status(
            r.get("last_active_at"), r.get("ended_at"), now, ttl_s, r["heartbeat_based"]
        )
        chitty_id, id_source = ids[r["session_key"]]
        row = {c: r.get(c) for c in SESSIONS.column_names}
        row.update(chitty_id=chitty_id, id_source=id_source, status=status, ended_at=ended,
                   status_as_of=now, built_at=now)  # fmt: skip
        out.append(row)
    return out


def _read_changed(con, todo: Plan, registered: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = file_sessions(con, None if todo.full else todo.feed_keys)
    if todo.full:
        return rows + registered_sessions(registered)
    keys = set(todo.feed_keys.get(REGISTERED_FEED, ()))
    return rows + registered_sessions([r for r in registered if r["session_id"] in keys])


def _silenced(con, now: datetime, ttl: float, exclude: set[str]) -> list[dict[str, Any]]:
    """Stored active sessions the clock has made silent: their status changes, nothing else."""
    found = rows_of(
        con,
        f"SELECT s.*, src.heartbeat_based FROM {SESSIONS.sql_name} s JOIN {SESSION_SOURCES.sql_name} src "
        "USING (session_key) WHERE s.status = 'active' AND s.last_active_at < ?",
        [now - timedelta(seconds=ttl)],
    )
    out = []
    for r in found:
        if r["session_key"] in exclude:
            continue
        status, ended = session_status(r["last_active_at"], None, now, ttl, bool(r["heartbeat_based"]))
        row = {c: r.get(c) for c in SESSIONS.column_names}
        row.update(status=status, ended_at=ended, status_as_of=now, built_at=now)
        out.append(row)
    return out


@dg.multi_asset(
    name="unified__sessions",
    specs=[table_asset_spec(SESSIONS_KEY, SESSIONS, group=GROUP, deps=UPSTREAM, kinds={"duckdb"})],
    check_specs=check_specs_of(SESSION_CHECKS),
    can_subset=True,
)
@with_checks(SESSION_CHECKS)
def unified_sessions(
    context: dg.AssetExecutionContext,
    config: SessionsConfig,
    warehouse: WarehouseResource,
    opstore: OpStoreResource,
    chitty_id: ChittyIdResource,
) -> dg.MaterializeResult:
    started = datetime.now(UTC)
    t0 = time.monotonic()
    now = datetime.fromisoformat(config.now.replace("Z", "+00:00")) if config.now else started
    ttl = config.ttl_seconds if config.ttl_seconds is not None else default_ttl()
    wh = warehouse.get()
    registered = opstore.get().sessions()
    with wh.connect() as con:
        have = existing_tables(con)
        aliases = rows_of(con, f"SELECT * FROM {PROJECT_ALIASES.sql_name}") if (
            "unified.project_aliases" in have) else []  # fmt: skip
        keys = {r[0] for r in con.execute(f"SELECT project_key FROM {PROJECTS.sql_name}").fetchall()} if (
            "unified.projects" in have
        ) else set()  # fmt: skip
        linker = ProjectLinker(aliases, keys)
        stored = wh.cursors(GROUP, "sessions")
        can_mint = chitty_id.client().configured
        todo = plan(con, have, stored, registered, registered_changed_at, linker.digest(), now, ttl,
                    config.full_refresh, can_mint)  # fmt: skip
        if todo.skip:
            reason = f"no source changed since {todo.since}"
            context.log.info(f"unified sessions: {reason}")
            stats = StreamStats(extra={"skipped": reason, "duration_s": round(time.monotonic() - t0, 3)})
            log_sync(wh, context, platform="unified", asset=SESSIONS_KEY.to_user_string(),
                     started_at=started, status="success", stats=stats, message=reason)  # fmt: skip
            return dg.MaterializeResult(metadata=table_metadata(wh, SESSIONS, stats))
        rows = _read_changed(con, todo, registered)
        changed = {r["session_key"] for r in rows}
        # sessions of changed or removed source keys that the sources no longer give
        touched = {
            f: todo.feed_keys.get(f, []) + todo.removed.get(f, []) for f in {*todo.feed_keys, *todo.removed}
        }
        gone = set() if todo.full else sessions_of(con, touched) - changed
        silenced = [] if todo.full else _silenced(con, now, ttl, changed | gone)
        parents = {r.get("parent_session_key") for r in rows if r["is_subagent"]} - changed - {None}
        stored_parents = {} if todo.full or not parents else {
            k: (pk,) for k, pk in con.execute(
                f"SELECT session_key, project_key FROM {SESSIONS.sql_name} WHERE session_key IN "
                "(SELECT unnest(?))", [sorted(parents)]).fetchall()
        }  # fmt: skip
    _link(rows, linker, stored_parents)
    # A session registered through the sync API may carry the ChittyID minted at registration.
    minted_by_api = {
        f"registered:{r['session_id']}": r["chitty_id"]
        for r in registered
        if r.get("id_source") == "service" and r.get("chitty_id")
    }
    ids = assign_ids(wh, chitty_id, "session", [r["session_key"] for r in rows], context.log.warning, started,
                     known=minted_by_api)  # fmt: skip
    with wh.transaction(context.run.run_id) as tx:
        write_ids(tx, ids)
        out = build_rows(rows, ids.ids, now, ttl)
        for table in (SESSIONS, SESSION_SOURCES, FEED_KEYS):
            tx.ensure(table)
            if todo.full:  # first run, new link rules or another clock: rebuilt whole
                tx.con.execute(f"DELETE FROM {table.sql_name}")
        tx.delete_where(SESSIONS, "session_key", sorted(gone))
        tx.delete_where(SESSION_SOURCES, "session_key", sorted(gone))
        for feed_name, keys in todo.removed.items():
            if keys:
                tx.con.execute(f"DELETE FROM {FEED_KEYS.sql_name} WHERE feed = ? AND source_key IN "
                               "(SELECT unnest(?))", [feed_name, keys])  # fmt: skip
        tx.upsert(FEED_KEYS, todo.markers)
        written = tx.upsert(SESSIONS, out) + tx.upsert(SESSIONS, silenced)
        tx.upsert(SESSION_SOURCES, [
            {"session_key": r["session_key"], "feed": r["feed"], "source_key": str(r["source_key"]),
             "heartbeat_based": r["heartbeat_based"]} for r in rows
        ])  # fmt: skip
        tx.set_cursors(GROUP, "sessions", todo.cursors(started))
    statuses = Counter(r["status"] for r in out + silenced)
    table = _table_counts(wh)
    stats = StreamStats(
        rows_written=written,
        extra={
            "mode": "full" if todo.full else "incremental",
            "reason": todo.reason,
            "changed_by_source": dg.MetadataValue.json(dict(Counter(r["feed"] for r in rows))),
            "status_changed_by_clock": len(silenced),
            "removed": len(gone),
            # The whole table's (an incremental run writes a few rows: counting those read as if
            # the table held only them).
            "by_platform": dg.MetadataValue.json(table["by_platform"]),
            "by_status": dg.MetadataValue.json(table["by_status"]),
            "linked_to_project": table["linked_to_project"],
            "status_as_of": now.isoformat(),
            "ttl_seconds": ttl,
            "duration_s": round(time.monotonic() - t0, 3),
            **ids.metadata,
        },
    )
    context.log.info(f"unified sessions ({todo.reason}): {written} rows written ({dict(statuses)})")
    log_sync(wh, context, platform="unified", asset=SESSIONS_KEY.to_user_string(), started_at=started,
             status="success", stats=stats)  # fmt: skip
    return dg.MaterializeResult(metadata=table_metadata(wh, SESSIONS, stats))


def _table_counts(wh: Warehouse) -> dict[str, Any]:
    """unified.sessions by platform and by status, and how many are linked to a project."""
    by_platform = dict(wh.rows(f"SELECT platform, count(*) FROM {SESSIONS.sql_name} GROUP BY ALL ORDER BY 1"))
    statuses = dict(wh.rows(f"SELECT status, count(*) FROM {SESSIONS.sql_name} GROUP BY ALL"))
    linked = wh.scalar(f"SELECT count(*) FROM {SESSIONS.sql_name} WHERE project_key IS NOT NULL")
    return {
        "by_platform": {k: int(v) for k, v in by_platform.items()},
        "by_status": {s: int(statuses.get(s, 0)) for s in ("active", "ended", "stale")},
        "linked_to_project": int(linked),
    }
