"""``unified/projects`` and ``unified/project_aliases``: one row per real project, and every
source record with the rule that put it there (resolution.py explains the rules).

Source records come from the platforms' project feeds (kernel/feeds.py). When no feed, no
registered project and no setting changed since the last run (the probes kept in
ops.sync_cursors, written with the tables), nothing is read or written and the metadata says so.
Resolution itself is global, so any change re-resolves every record (hundreds, not sessions)."""

# No ``from __future__ import annotations``: Dagster reads the config/resource annotations.
import hashlib
import json
import time
from collections import Counter
from datetime import datetime

import dagster as dg
from pydantic import Field

from chitty_pipelines.chittyos.ids import ChittyIdResource
from chitty_pipelines.kernel.assets import StreamStats, log_sync, now, table_asset_spec, table_metadata
from chitty_pipelines.kernel.platform_asset import check_specs_of, with_checks
from chitty_pipelines.unified import feed_reader
from chitty_pipelines.unified.entity_checks import PROJECT_CHECKS
from chitty_pipelines.unified.entity_tables import (
    ALIASES_KEY,
    PLATFORM_FLAGS,
    PROJECT_ALIASES,
    PROJECT_COLUMNS,
    PROJECTS,
    PROJECTS_KEY,
    REGISTERED,
)
from chitty_pipelines.unified.ids import assign_ids, write_ids
from chitty_pipelines.unified.project_sources import project_feeds_probe, read_sources
from chitty_pipelines.unified.resolution import (
    Match,
    normalize_name,
    normalize_path,
    normalize_remote,
    resolve,
)
from chitty_pipelines.warehouse.opstore_resource import OpStoreResource
from chitty_pipelines.warehouse.resource import WarehouseResource

GROUP = "unified"
# Every table a project feed reads, from the registry (not a list kept here).
UPSTREAM = [
    dg.AssetKey(t.split("."))
    for t in dict.fromkeys(t for f in feed_reader.feeds("project") if f.asset_dependency for t in f.tables)
]


class ProjectsConfig(dg.Config):
    notion_project_databases: str = Field(
        default="project",
        description="Pages of Notion databases whose title contains this (case-insensitive) are projects.",
    )
    drive_project_parents: list[str] = Field(
        default=["projects"],
        description="Drive folders at the top of the synced folder, or directly under one of these, "
        "are projects.",
    )
    lookup_git_remotes: bool = Field(
        default=True, description="Ask git for the origin of working directories present on this machine."
    )
    full_refresh: bool = Field(default=False, description="Resolve again even when no source changed.")


def _latest(values: list[datetime | None]) -> datetime | None:
    present = [v for v in values if v is not None]
    return max(present) if present else None


def _feed_column(ms: list[Match], kind: str, how: str) -> int | str | None:
    """One of the columns a project feed declares (kernel/feeds.py project_columns)."""
    mine = [m.record for m in ms if m.record.kind == kind]
    if how == "records":
        return len(mine)
    if how == "record_count":
        return sum(r.count for r in mine)
    return next((r.extra["full_name"] for r in mine if r.extra.get("full_name")), None)


def project_row(key: str, ms: list[Match], chitty_id: str, id_source: str, built_at: datetime) -> dict:
    by_kind = Counter(m.record.kind for m in ms)
    remotes = [normalize_remote(m.record.git_remote) for m in ms if m.record.git_remote]
    paths = sorted({p for m in ms if (p := normalize_path(m.record.path))})
    registered = next((m.record for m in ms if m.record.kind == REGISTERED), None)
    return {
        "project_key": key,
        "name": next((m.record.name for m in ms if m.record.name), key),
        "chitty_id": chitty_id,
        "id_source": id_source,
        "platforms": [p for p in PLATFORM_FLAGS if by_kind[p]],
        **{f"on_{p}": by_kind[p] > 0 for p in PLATFORM_FLAGS},
        **{col: _feed_column(ms, kind, how) for col, (kind, how, _d) in PROJECT_COLUMNS.items()},
        "alias_count": len(ms),
        "git_remote": next((r for r in remotes if r), None),
        "paths": paths,
        "registered_path": normalize_path(registered.path) if registered else None,
        "last_active_at": _latest([m.record.last_active_at for m in ms]),
        "built_at": built_at,
    }


def drop_removed(
    matches: list[Match], projects: dict[str, list[Match]], removed: list[dict]
) -> tuple[list[Match], dict[str, list[Match]]]:
    """A removed project (``chitty-sync project remove``) leaves unified.projects: the project
    with its key, or holding its registered path or git remote. Its source records stay in
    project_aliases with rule ``removed`` and no project (so no session links to it)."""
    if not removed:
        return matches, projects
    keys = {p["project_key"] for p in removed}
    paths = {p for r in removed if (p := normalize_path(r.get("path")))}
    remotes = {r for p in removed if (r := normalize_remote(p.get("git_remote")))}
    gone = {
        key
        for key, ms in projects.items()
        if key in keys
        or any(normalize_path(m.record.path) in paths for m in ms if m.record.path)
        or any(normalize_remote(m.record.git_remote) in remotes for m in ms if m.record.git_remote)
    }
    out = [
        Match(m.record, "removed", f"project {m.project_key} removed", None) if m.project_key in gone else m
        for m in matches
    ]
    return out, {k: v for k, v in projects.items() if k not in gone}


def alias_row(m: Match) -> dict:
    r = m.record
    return {
        "alias_id": r.alias_id,
        "platform": r.kind,
        "source_table": r.source_table,
        "source_id": r.source_id,
        "source_name": r.name,
        "normalized_name": normalize_name(r.name),
        "path": normalize_path(r.path),
        "git_remote": normalize_remote(r.git_remote),
        "rule": m.rule,
        "matched_on": m.matched_on,
        "project_key": m.project_key,
        "record_count": r.count,
        "last_active_at": r.last_active_at,
    }


@dg.multi_asset(
    name="unified_projects",
    specs=[
        table_asset_spec(PROJECTS_KEY, PROJECTS, group=GROUP, deps=UPSTREAM, kinds={"duckdb"}),
        table_asset_spec(ALIASES_KEY, PROJECT_ALIASES, group=GROUP, deps=UPSTREAM, kinds={"duckdb"}),
    ],
    check_specs=check_specs_of(PROJECT_CHECKS),
    can_subset=True,
    description="Entity resolution of projects over every platform's project feeds and the registered "
    "projects; ChittyIDs kept in ops.chitty_ids.",
)
@with_checks(PROJECT_CHECKS)
def unified_projects(
    context: dg.AssetExecutionContext,
    config: ProjectsConfig,
    warehouse: WarehouseResource,
    opstore: OpStoreResource,
    chitty_id: ChittyIdResource,
):
    started_at = now()
    t0 = time.monotonic()
    wh = warehouse.get()
    registered = opstore.get().projects()
    removed = opstore.get().removed_projects()  # soft-deleted: left out of the unified tables
    # The feeds' named parameters are this asset's settings (e.g. which databases hold projects).
    params = {k: v for k, v in config.model_dump().items() if k != "full_refresh"}
    with wh.connect() as con:
        have = feed_reader.existing_tables(con)
        probe = {
            "feeds": project_feeds_probe(con),
            "registered": hashlib.sha1(
                json.dumps(registered, sort_keys=True, default=str).encode()
            ).hexdigest(),
            "settings": params,
            "removed": sorted(p["project_key"] for p in removed),
        }
    stored = wh.cursors(GROUP, "projects")
    exists = {"unified.projects", "unified.project_aliases"} <= have
    # Local ids wait for the id service: while it is configured, every run tries to mint them.
    pending = (
        "ops.chitty_ids" in have
        and chitty_id.client().configured
        and bool(
            wh.scalar(
                "SELECT count(*) FROM ops.chitty_ids WHERE entity_type = 'project' AND id_source = 'local'"
            )
        )
    )
    if (
        exists
        and not pending
        and not config.full_refresh
        and stored.get("probe") == json.loads(json.dumps(probe, default=str))
    ):
        reason = f"no source changed since {stored.get('built_at')}"
        context.log.info(f"unified projects: {reason}")
        extra = {"skipped": reason, "duration_s": round(time.monotonic() - t0, 3)}
        for key, table in ((PROJECTS_KEY, PROJECTS), (ALIASES_KEY, PROJECT_ALIASES)):
            stats = StreamStats(extra=extra)
            log_sync(wh, context, platform="unified", asset=key.to_user_string(), started_at=started_at,
                     status="success", stats=stats, message=reason)  # fmt: skip
            yield dg.MaterializeResult(asset_key=key, metadata=table_metadata(wh, table, stats))
        return
    records, per_source = read_sources(wh, registered, params, config.lookup_git_remotes)
    matches, projects = resolve(records)
    matches, projects = drop_removed(matches, projects, removed)
    ids = assign_ids(wh, chitty_id, "project", projects, context.log.warning, started_at)
    with wh.transaction(context.run.run_id) as tx:
        write_ids(tx, ids)
        project_rows = [project_row(k, ms, *ids.ids[k], started_at) for k, ms in sorted(projects.items())]
        alias_rows = [alias_row(m) for m in matches]
        for table in (PROJECTS, PROJECT_ALIASES):
            tx.ensure(table)
            tx.con.execute(f"DELETE FROM {table.sql_name}")  # derived tables: rebuilt whole each run
        tx.upsert(PROJECTS, project_rows)
        tx.upsert(PROJECT_ALIASES, alias_rows)
        tx.set_cursors(GROUP, "projects", {"probe": probe, "built_at": started_at.isoformat()})
    rules = Counter(m.rule for m in matches)
    extra = {
        "sources": dg.MetadataValue.json(per_source),
        "rules": dg.MetadataValue.json(dict(sorted(rules.items()))),
        # read by the registration sensor (issue 7) without opening the warehouse
        "project_keys": dg.MetadataValue.json(sorted(projects)),
        "duration_s": round(time.monotonic() - t0, 3),
        **ids.metadata,
    }
    context.log.info(f"unified projects: {len(project_rows)} projects from {len(alias_rows)} source records")
    for key, table, rows in (
        (PROJECTS_KEY, PROJECTS, project_rows),
        (ALIASES_KEY, PROJECT_ALIASES, alias_rows),
    ):
        stats = StreamStats(rows_written=len(rows), extra=extra)
        log_sync(wh, context, platform="unified", asset=key.to_user_string(), started_at=started_at,
                 status="success", stats=stats)  # fmt: skip
        yield dg.MaterializeResult(asset_key=key, metadata=table_metadata(wh, table, stats))
