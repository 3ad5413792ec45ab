"""Gemini prompts from Google Takeout activity (``My Activity.json``) under CHITTY_EXPORTS_DIR.

Prompts are upserted by a stable id (time + title), so overlapping Takeouts give one row per
prompt. Sessions do not exist in the export: they are rebuilt in SQL from every stored prompt by
time gap, and a session's id is derived from its first prompt, so it stays the same when a later
Takeout extends it.
"""

# No ``from __future__ import annotations``: Dagster reads the config class from the real annotation.
from collections.abc import Iterator

import dagster as dg
from pydantic import Field

from chitty_pipelines.kernel.assets import (
    Check,
    StreamStats,
    SyncConfig,
    bundled_checks,
    is_full_refresh,
    log_sync,
    now,
    rejects_check,
    table_metadata,
    unique_key_check,
)
from chitty_pipelines.kernel.local_files import LocalSessionsResource
from chitty_pipelines.platforms.gemini.parser import ActivityRules
from chitty_pipelines.platforms.gemini.streams import (
    PLATFORM,
    PROMPTS,
    PROMPTS_KEY,
    SESSIONS,
    SESSIONS_KEY,
    STREAM,
    sync_activity,
)
from chitty_pipelines.warehouse.resource import WarehouseResource


class GeminiSyncConfig(SyncConfig):
    session_gap_minutes: float = Field(default=30.0, description="A longer pause starts a new session.")
    headers: list[str] = Field(default=["Gemini Apps"], description="Item headers (localised) to read.")
    prompt_prefixes: list[str] = Field(default=["Prompted "], description="Title prefixes of prompts.")
    batch_rows: int = Field(default=5000, description="Prompts per write transaction.")


@dg.multi_asset(
    name="gemini_activity",
    group_name="gemini",
    specs=[
        dg.AssetSpec(
            PROMPTS_KEY,
            kinds={"gemini", "duckdb"},
            description=PROMPTS.description + " Read from My Activity.json files under CHITTY_EXPORTS_DIR.",
        ),
        dg.AssetSpec(
            SESSIONS_KEY, kinds={"gemini", "duckdb"}, deps=[PROMPTS_KEY], description=SESSIONS.description
        ),
    ],
)
def gemini_activity(
    context: dg.AssetExecutionContext,
    config: GeminiSyncConfig,
    warehouse: WarehouseResource,
    local_sessions: LocalSessionsResource,
) -> Iterator[dg.MaterializeResult]:
    started = now()
    wh = warehouse.get()
    full = is_full_refresh(context, config)
    files = list(local_sessions.gemini_activity())
    rules = ActivityRules(tuple(config.headers), tuple(config.prompt_prefixes))
    out = sync_activity(
        wh,
        files,
        rules,
        run_id=context.run.run_id,
        full=full,
        gap_minutes=config.session_gap_minutes,
        batch_rows=config.batch_rows,
    )
    extra = {
        "exports_dir": local_sessions.exports_dir,
        "full_refresh": full,
        "files_seen": len(files),
        "files_read": out.files_read,
        "files_skipped": out.files_skipped,
        "items_read": out.items_read,
        "items_skipped": out.items_skipped,
        "session_gap_minutes": config.session_gap_minutes,
        "sessions_rebuilt": out.sessions_rebuilt,
    }
    prompt_stats = StreamStats(out.prompts_written, out.bytes_read, out.rejects, extra)
    session_stats = StreamStats(out.sessions_written, 0, 0, extra)
    for asset, stats in (("gemini_prompts", prompt_stats), ("gemini_sessions", session_stats)):
        log_sync(
            wh,
            context,
            platform=PLATFORM,
            asset=asset,
            started_at=started,
            status="success",
            stats=stats,
            full_refresh=full,
        )
    yield dg.MaterializeResult(asset_key=PROMPTS_KEY, metadata=table_metadata(wh, PROMPTS, prompt_stats))
    yield dg.MaterializeResult(asset_key=SESSIONS_KEY, metadata=table_metadata(wh, SESSIONS, session_stats))


def gemini_prompts_in_sessions(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
    wh = context.resources.warehouse.get()
    if not wh.table_exists(PROMPTS.schema, PROMPTS.name):
        return dg.AssetCheckResult(passed=True, metadata={"prompts_without_session": 0})
    missing = int(
        wh.scalar(
            f"SELECT count(*) FROM {PROMPTS.sql_name} p LEFT JOIN {SESSIONS.sql_name} s USING (session_id) "
            "WHERE s.session_id IS NULL"
        )
    )
    counted = int(wh.scalar(f"SELECT coalesce(sum(prompt_count), 0) FROM {SESSIONS.sql_name}"))
    prompts = wh.row_count(PROMPTS)
    return dg.AssetCheckResult(
        passed=missing == 0 and counted == prompts,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"prompts_without_session": missing, "prompts": prompts, "prompts_in_sessions": counted},
    )


GEMINI_ASSETS: list[dg.AssetsDefinition] = [gemini_activity]
# All four in one step (common.bundled_checks says why).
gemini_checks = bundled_checks(
    "gemini_checks",
    [
        Check(
            PROMPTS_KEY,
            "gemini_prompts_unique_key",
            unique_key_check(PROMPTS),
            "prompt_id is unique.",
            blocking=True,
        ),
        Check(
            SESSIONS_KEY,
            "gemini_sessions_unique_key",
            unique_key_check(SESSIONS),
            "session_id is unique.",
            blocking=True,
        ),
        Check(
            PROMPTS_KEY,
            "gemini_rejects",
            rejects_check(PLATFORM, [STREAM]),
            "Activity files or items that were rejected.",
        ),
        Check(
            SESSIONS_KEY,
            "gemini_prompts_in_sessions",
            gemini_prompts_in_sessions,
            "Every prompt belongs to a session and counts add up.",
        ),
    ],
    {"warehouse"},
)
GEMINI_CHECKS: list[dg.AssetChecksDefinition] = [gemini_checks]


# Resources come from the platform registry (definitions.py), one per resource key.
defs = dg.Definitions(
    assets=GEMINI_ASSETS,
    asset_checks=GEMINI_CHECKS,
)
