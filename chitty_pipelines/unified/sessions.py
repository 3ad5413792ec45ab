"""``unified/sessions``: one row per AI session across tools, linked to its project, with usage and
a status (session_sources.py defines active / ended / stale)."""

# No ``from __future__ import annotations``: Dagster reads the config/resource annotations.
import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import dagster as dg
from pydantic import Field

from chitty_pipelines import config as settings
from chitty_pipelines.chittyos.ids import ChittyIdResource
from chitty_pipelines.kernel.assets import StreamStats, log_sync, table_metadata
from chitty_pipelines.unified.entity_tables import PROJECT_ALIASES, PROJECTS, SESSIONS
from chitty_pipelines.unified.ids import assign_ids, write_ids
from chitty_pipelines.unified.project_sources import _rows, existing_tables
from chitty_pipelines.unified.projects import ALIASES_KEY, GROUP, PROJECTS_KEY
from chitty_pipelines.unified.resolution import normalize_path
from chitty_pipelines.unified.session_sources import file_sessions, registered_sessions, session_status
from chitty_pipelines.warehouse.opstore_resource import OpStoreResource
from chitty_pipelines.warehouse.resource import WarehouseResource

SESSIONS_KEY = dg.AssetKey(["unified", "sessions"])
UPSTREAM = [
    PROJECTS_KEY,
    ALIASES_KEY,
    dg.AssetKey(["raw_local", "claude_sessions"]),
    dg.AssetKey(["raw_local", "claude_subagents"]),
    dg.AssetKey(["raw_local", "claude_messages"]),
    dg.AssetKey(["raw_local", "chatgpt_conversations"]),
    dg.AssetKey(["raw_local", "chatgpt_messages"]),
    dg.AssetKey(["raw_local", "gemini_sessions"]),
    dg.AssetKey(["raw_local", "gemini_prompts"]),
]
DEFAULT_TTL_S = 1800.0


def default_ttl() -> float:
    return float(settings.env("SESSION_TTL") or DEFAULT_TTL_S)


class SessionsConfig(dg.Config):
    now: str | None = Field(
        default=None, description="Clock for the status (ISO 8601); unset: the time of the run."
    )
    ttl_seconds: float | None = Field(
        default=None,
        description="Seconds of silence after which a session is not active; unset: SESSION_TTL.",
    )


class ProjectLinker:
    """Session -> project by the aliases the projects asset stored."""

    def __init__(self, aliases: list[dict[str, Any]], project_keys: set[str]):
        self.project_keys = project_keys
        self.cwd = {a["source_id"]: a for a in aliases if a["platform"] == "claude_code"}
        self.paths = {a["path"]: a["project_key"] for a in aliases if a["path"] and a["project_key"]}

    def claude(self, cwd: str | None) -> tuple[str | None, str]:
        alias = self.cwd.get(cwd or "")
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


def _link(rows: list[dict[str, Any]], linker: ProjectLinker) -> None:
    by_key = {r["session_key"]: r for r in rows}
    for r in rows:
        if r["platform"] == "claude_code" and not r["is_subagent"]:
            r["project_key"], r["project_rule"] = linker.claude(r.get("project_hint"))
        elif r["heartbeat_based"]:
            r["project_key"], r["project_rule"] = linker.registered(r.get("project_hint"), r.get("pwd"))
        else:
            r["project_key"], r["project_rule"] = None, "none"
    for r in rows:  # subagents follow their parent, whatever rule linked it
        parent = by_key.get(r.get("parent_session_key") or "")
        if r["is_subagent"] and parent is not None:
            r["project_key"], r["project_rule"] = parent["project_key"], "parent"


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


@dg.asset(
    key=SESSIONS_KEY,
    group_name=GROUP,
    kinds={"duckdb"},
    deps=UPSTREAM,
    description=SESSIONS.description,
    metadata={"dagster/table_name": SESSIONS.qualified, "dagster/column_schema": SESSIONS.dagster_schema()},
)
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
    with wh.connect() as con:
        rows = file_sessions(con)
        have = existing_tables(con)
        aliases = (
            _rows(con, f"SELECT * FROM {PROJECT_ALIASES.sql_name}")
            if "unified.project_aliases" in have
            else []
        )
        keys = {r[0] for r in con.execute(f"SELECT project_key FROM {PROJECTS.sql_name}").fetchall()} if (
            "unified.projects" in have
        ) else set()  # fmt: skip
    rows += registered_sessions(opstore.get().sessions())
    _link(rows, ProjectLinker(aliases, keys))
    ids = assign_ids(wh, chitty_id, "session", [r["session_key"] for r in rows], context.log.warning, started)
    with wh.transaction(context.run.run_id) as tx:
        write_ids(tx, ids)
        out = build_rows(rows, ids.ids, now, ttl)
        tx.ensure(SESSIONS)
        tx.con.execute(f"DELETE FROM {SESSIONS.sql_name}")  # derived: rebuilt whole each run
        tx.upsert(SESSIONS, out)
    statuses = Counter(r["status"] for r in out)
    stats = StreamStats(
        rows_written=len(out),
        extra={
            "by_platform": dg.MetadataValue.json(dict(Counter(r["platform"] for r in out))),
            "by_status": dg.MetadataValue.json({s: statuses.get(s, 0) for s in ("active", "ended", "stale")}),
            "linked_to_project": sum(1 for r in out if r["project_key"]),
            "status_as_of": now.isoformat(),
            "ttl_seconds": ttl,
            "duration_s": round(time.monotonic() - t0, 3),
            **ids.metadata,
        },
    )
    context.log.info(f"unified sessions: {len(out)} sessions ({dict(statuses)})")
    log_sync(wh, context, platform="unified", asset=SESSIONS_KEY.to_user_string(), started_at=started,
             status="success", stats=stats)  # fmt: skip
    return dg.MaterializeResult(metadata=table_metadata(wh, SESSIONS, stats))
