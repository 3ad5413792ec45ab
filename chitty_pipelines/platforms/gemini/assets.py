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

from chitty_pipelines.kernel.assets import Check, SyncConfig, rejects_check, unique_key_check
from chitty_pipelines.kernel.local_files import LocalSessionsResource, SkippedPath
from chitty_pipelines.kernel.platform_asset import PlatformRun, TableAsset, TableResult, platform_assets
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


class GeminiSyncConfig(SyncConfig):
    session_gap_minutes: float = Field(default=30.0, description="A longer pause starts a new session.")
    headers: list[str] = Field(default=["Gemini Apps"], description="Item headers (localised) to read.")
    prompt_prefixes: list[str] = Field(default=["Prompted "], description="Title prefixes of prompts.")
    batch_rows: int = Field(default=5000, description="Prompts per write transaction.")


def sync(run: PlatformRun) -> Iterator[TableResult]:
    """Read new or changed ``My Activity.json`` files, then rebuild sessions by time gap."""
    config: GeminiSyncConfig = run.config  # type: ignore[assignment]
    local_sessions: LocalSessionsResource = run.resources.local_sessions
    warning = "; ".join(local_sessions.missing_folders("exports"))  # reported, not fatal
    skipped: list[SkippedPath] = []
    files = list(local_sessions.gemini_activity(skipped))
    out = sync_activity(
        run.warehouse,
        files,
        ActivityRules(tuple(config.headers), tuple(config.prompt_prefixes)),
        run_id=run.run_id,
        full=run.full_refresh,
        gap_minutes=config.session_gap_minutes,
        batch_rows=config.batch_rows,
        skipped=skipped,
        progress=run.log,
    )
    extra = {
        "exports_dir": local_sessions.exports_dir,
        "files_seen": len(files),
        "files_read": out.files_read,
        "files_skipped": out.files_skipped,
        "items_read": out.items_read,
        "items_skipped": out.items_skipped,
        "session_gap_minutes": config.session_gap_minutes,
        "sessions_rebuilt": out.sessions_rebuilt,
    }
    yield TableResult(PROMPTS, out.prompts_written, out.bytes_read, out.rejects, dict(extra), warning=warning)
    yield TableResult(SESSIONS, out.sessions_written, 0, 0, dict(extra), warning=warning)


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


gemini_activity = platform_assets(
    PLATFORM,
    name="gemini_activity",
    tables=[
        TableAsset(
            PROMPTS, PROMPTS.description + " Read from My Activity.json files under CHITTY_EXPORTS_DIR."
        ),
        TableAsset(SESSIONS, deps=(PROMPTS_KEY,)),
    ],
    sync=sync,
    resource_key="local_sessions",
    config_class=GeminiSyncConfig,
    checks=[
        Check(
            PROMPTS_KEY, "gemini_prompts_unique_key", unique_key_check(PROMPTS), "prompt_id is unique.", True
        ),
        Check(
            SESSIONS_KEY,
            "gemini_sessions_unique_key",
            unique_key_check(SESSIONS),
            "session_id is unique.",
            True,
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
    description="Gemini Apps prompts from Google Takeout activity files, sessions rebuilt by time gap.",
)

GEMINI_ASSETS: list[dg.AssetsDefinition] = [gemini_activity]
GEMINI_CHECKS: list[dg.AssetChecksDefinition] = []  # evaluated inside gemini_activity's step

# Resources come from the platform registry (definitions.py), one per resource key.
defs = dg.Definitions(assets=GEMINI_ASSETS)
