"""``unified/projects`` and ``unified/project_aliases``: one row per real project, and every
source record with the rule that put it there (resolution.py explains the rules)."""

# No ``from __future__ import annotations``: Dagster reads the config/resource annotations.
import time
from collections import Counter
from datetime import datetime

import dagster as dg
from pydantic import Field

from chitty_pipelines.chittyos.ids import ChittyIdResource
from chitty_pipelines.kernel.assets import StreamStats, log_sync, now, table_metadata
from chitty_pipelines.unified.entity_tables import PLATFORM_FLAGS, PROJECT_ALIASES, PROJECTS
from chitty_pipelines.unified.ids import assign_ids, write_ids
from chitty_pipelines.unified.project_sources import read_sources
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
PROJECTS_KEY = dg.AssetKey(["unified", "projects"])
ALIASES_KEY = dg.AssetKey(["unified", "project_aliases"])
UPSTREAM = [
    dg.AssetKey(["raw_github", "repositories"]),
    dg.AssetKey(["raw_github", "project_states"]),
    dg.AssetKey(["raw_github", "projects"]),
    dg.AssetKey(["raw_local", "claude_sessions"]),
    dg.AssetKey(["raw_notion", "pages"]),
    dg.AssetKey(["raw_notion", "databases"]),
    dg.AssetKey(["raw_drive", "files"]),
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


def _latest(values: list[datetime | None]) -> datetime | None:
    present = [v for v in values if v is not None]
    return max(present) if present else None


def project_row(key: str, ms: list[Match], chitty_id: str, id_source: str, built_at: datetime) -> dict:
    by_kind = Counter(m.record.kind for m in ms)
    remotes = [normalize_remote(m.record.git_remote) for m in ms if m.record.git_remote]
    paths = sorted({p for m in ms if (p := normalize_path(m.record.path))})
    registered = next((m.record for m in ms if m.record.kind == "registered"), None)
    github = next((m.record for m in ms if m.record.kind == "github"), None)
    return {
        "project_key": key,
        "name": next((m.record.name for m in ms if m.record.name), key),
        "chitty_id": chitty_id,
        "id_source": id_source,
        "platforms": [p for p in PLATFORM_FLAGS if by_kind[p]],
        **{f"on_{p}": by_kind[p] > 0 for p in PLATFORM_FLAGS},
        "github_repos": by_kind["github"],
        "claude_sessions": sum(m.record.count for m in ms if m.record.kind == "claude_code"),
        "claude_paths": by_kind["claude_code"],
        "notion_pages": by_kind["notion"],
        "drive_folders": by_kind["drive"],
        "chittychat_data_records": by_kind["chittychat_data"],
        "alias_count": len(ms),
        "git_remote": next((r for r in remotes if r), None),
        "github_full_name": github.extra.get("full_name") if github else None,
        "paths": paths,
        "registered_path": normalize_path(registered.path) if registered else None,
        "last_activity_at": _latest([m.record.last_activity_at for m in ms]),
        "built_at": built_at,
    }


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
        "last_activity_at": r.last_activity_at,
    }


@dg.multi_asset(
    name="unified_projects",
    specs=[
        dg.AssetSpec(
            PROJECTS_KEY,
            description=PROJECTS.description,
            group_name=GROUP,
            kinds={"duckdb"},
            deps=UPSTREAM,
            metadata={
                "dagster/table_name": PROJECTS.qualified,
                "dagster/column_schema": PROJECTS.dagster_schema(),
            },
        ),
        dg.AssetSpec(
            ALIASES_KEY,
            description=PROJECT_ALIASES.description,
            group_name=GROUP,
            kinds={"duckdb"},
            deps=UPSTREAM,
            metadata={
                "dagster/table_name": PROJECT_ALIASES.qualified,
                "dagster/column_schema": PROJECT_ALIASES.dagster_schema(),
            },
        ),
    ],
    description="Entity resolution of projects over GitHub, Claude Code, Notion, Drive, chittychat-data "
    "and registrations; ChittyIDs kept in ops.chitty_ids.",
)
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
    records, per_source = read_sources(
        wh,
        opstore.get().projects(),
        config.notion_project_databases,
        tuple(p.lower() for p in config.drive_project_parents),
        config.lookup_git_remotes,
    )
    matches, projects = resolve(records)
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
