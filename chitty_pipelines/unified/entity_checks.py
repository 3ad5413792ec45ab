"""Data checks of the unified projects, aliases and sessions, evaluated in their assets' own steps.

Blocking where a downstream consumer relies on it: topics read ``unified.sessions`` by
``session_key`` and the registration sensor reads ``unified.projects`` by ``project_key``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import dagster as dg

from chitty_pipelines.chittyos.identity import is_valid
from chitty_pipelines.kernel.assets import Check, unique_key_check_result
from chitty_pipelines.unified.entity_tables import (
    ALIASES_KEY,
    PROJECT_ALIASES,
    PROJECTS,
    PROJECTS_KEY,
    SESSIONS,
    SESSIONS_KEY,
)
from chitty_pipelines.warehouse import TableSpec, Warehouse

FRESH_FOR = timedelta(hours=24)
STATUSES = ("active", "ended", "stale")


def _wh(context) -> Warehouse:
    return context.resources.warehouse.get()


def _count(wh: Warehouse, table: TableSpec, where: str) -> int:
    if not wh.table_exists(table.schema, table.name):
        return 0
    return int(wh.scalar(f"SELECT count(*) FROM {table.sql_name} WHERE {where}"))


def _result(bad: int, what: str, severity=dg.AssetCheckSeverity.ERROR, **meta) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=bad == 0, severity=severity, metadata={what: bad, **meta})


def _unique(table: TableSpec):
    return lambda ctx: unique_key_check_result(_wh(ctx), table)


def _required(table: TableSpec, columns: tuple[str, ...], extra: str = "false"):
    nulls = " OR ".join(f'"{c}" IS NULL' for c in columns)
    return lambda ctx: _result(_count(_wh(ctx), table, f"{nulls} OR ({extra})"), "rows_missing_fields",
                               required=", ".join(columns))  # fmt: skip


def _ids_valid(table: TableSpec):
    def check(ctx) -> dg.AssetCheckResult:
        wh = _wh(ctx)
        if not wh.table_exists(table.schema, table.name):
            return _result(0, "invalid_ids")
        found = wh.records(f"SELECT chitty_id, id_source FROM {table.sql_name}")
        rows = [(r["chitty_id"], r["id_source"]) for r in found]
        bad_service = sum(1 for i, s in rows if s == "service" and not is_valid(i))
        # A local placeholder must never pass for a real id (contracts §4.4).
        bad_local = sum(1 for i, s in rows if s == "local" and (is_valid(i) or not i.startswith("local-")))
        local = sum(1 for _, s in rows if s == "local")
        return _result(bad_service + bad_local, "invalid_ids", local_ids=local, service_ids=len(rows) - local)

    return check


def _fresh(table: TableSpec, asset: dg.AssetKey, activity: str):
    """Last successful build from ops.sync_log (an empty table is fresh when just rebuilt)."""

    def check(ctx) -> dg.AssetCheckResult:
        wh = _wh(ctx)
        built = wh.scalar(
            "SELECT max(finished_at) FROM ops.sync_log WHERE asset = ? AND status = 'success'",
            [asset.to_user_string()],
        )
        newest = None
        if wh.table_exists(table.schema, table.name):
            newest = wh.scalar(f"SELECT max({activity}) FROM {table.sql_name}")
        age = datetime.now(UTC) - built if built is not None else None
        return dg.AssetCheckResult(
            passed=age is not None and age <= FRESH_FOR,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={
                "built_at": str(built) if built else "never",
                "age_hours": round(age.total_seconds() / 3600, 2) if age is not None else -1,
                "newest_activity": str(newest),
            },
        )

    return check


def _aliases_project_exists(ctx) -> dg.AssetCheckResult:
    bad = _count(_wh(ctx), PROJECT_ALIASES,
                 "(project_key IS NULL AND rule NOT IN ('ignored_generic', 'removed')) OR "
                 "(project_key IS NOT NULL AND project_key NOT IN "
                 f"(SELECT project_key FROM {PROJECTS.sql_name}))")  # fmt: skip
    return _result(bad, "orphan_aliases")


def _sessions_project_exists(ctx) -> dg.AssetCheckResult:
    wh = _wh(ctx)
    if not wh.table_exists(PROJECTS.schema, PROJECTS.name):
        return _result(_count(wh, SESSIONS, "project_key IS NOT NULL"), "sessions_with_unknown_project")
    bad = _count(wh, SESSIONS,
                 f"(project_key IS NOT NULL AND project_key NOT IN "
                 f"(SELECT project_key FROM {PROJECTS.sql_name})) OR (project_key IS NULL AND "
                 "project_rule NOT IN ('none', 'ignored_generic', 'parent', 'removed'))")  # fmt: skip
    linked = _count(wh, SESSIONS, "project_key IS NOT NULL")
    return _result(bad, "sessions_with_unknown_project", linked=linked)


def _parents_exist(ctx) -> dg.AssetCheckResult:
    bad = _count(_wh(ctx), SESSIONS,
                 f"parent_session_key IS NOT NULL AND parent_session_key NOT IN "
                 f"(SELECT session_key FROM {SESSIONS.sql_name})")  # fmt: skip
    return _result(bad, "orphan_subagents", severity=dg.AssetCheckSeverity.WARN)


_statuses = ", ".join(f"'{s}'" for s in STATUSES)
CHECKS = [
    Check(
        PROJECTS_KEY, "projects_unique_key", _unique(PROJECTS), "No two projects share a project_key.", True
    ),
    Check(
        PROJECTS_KEY,
        "projects_required_fields",
        _required(
            PROJECTS,
            ("project_key", "name", "chitty_id", "id_source"),
            "id_source NOT IN ('service', 'local')",
        ),
        "Every project has key, name, id and id_source.",
        True,
    ),
    Check(
        PROJECTS_KEY,
        "projects_ids_valid",
        _ids_valid(PROJECTS),
        "Minted ids pass format and checksum; local placeholders are flagged and never look canonical.",
    ),
    Check(
        PROJECTS_KEY,
        "projects_freshness",
        _fresh(PROJECTS, PROJECTS_KEY, "last_active_at"),
        "The projects table was rebuilt within 24 hours (warns).",
    ),
    Check(
        ALIASES_KEY,
        "project_aliases_unique_key",
        _unique(PROJECT_ALIASES),
        "One row per source record.",
        True,
    ),
    Check(
        ALIASES_KEY,
        "project_aliases_project_exists",
        _aliases_project_exists,
        "Every alias points at an existing project (null only when ignored as generic).",
        True,
    ),
    Check(
        SESSIONS_KEY,
        "sessions_unique_key",
        _unique(SESSIONS),
        "No two sessions share a session_key (topics rely on it).",
        True,
    ),
    Check(
        SESSIONS_KEY,
        "sessions_required_fields",
        _required(
            SESSIONS,
            ("session_key", "platform", "status", "chitty_id", "id_source", "summary_text"),
            f"status NOT IN ({_statuses})",
        ),
        "Key, platform, a known status, an id and the summary text topics classify.",
        True,
    ),
    Check(
        SESSIONS_KEY,
        "sessions_project_exists",
        _sessions_project_exists,
        "Every session's project exists in unified.projects, or is null by rule.",
    ),
    Check(
        SESSIONS_KEY, "sessions_parent_exists", _parents_exist, "Every subagent's parent session is present."
    ),
    Check(
        SESSIONS_KEY,
        "sessions_ids_valid",
        _ids_valid(SESSIONS),
        "Minted ids pass format and checksum; local placeholders are flagged.",
    ),
    Check(
        SESSIONS_KEY,
        "sessions_freshness",
        _fresh(SESSIONS, SESSIONS_KEY, "last_active_at"),
        "The sessions table (and so every status) was rebuilt within 24 hours (warns).",
    ),
]

# Each asset evaluates its own checks in its step (kernel/platform_asset.with_checks).
PROJECT_CHECKS = [c for c in CHECKS if c.asset != SESSIONS_KEY]
SESSION_CHECKS = [c for c in CHECKS if c.asset == SESSIONS_KEY]
