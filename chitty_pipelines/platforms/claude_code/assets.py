"""Claude Code transcripts on this machine -> ``raw_local.claude_*`` tables, and their checks.

One multi-asset reads every transcript layout (v1.0 inline sidechains, v2.0 flat agent files,
v2.1 ``<session>/subagents/``) plus the todos/ and tasks/ state folders, incrementally by file
cursor (session-formats.md §1.14), and derives per-session aggregates with exact token
de-duplication (§1.8) in SQL.
"""

# No ``from __future__ import annotations``: Dagster reads the config/resource annotations.
import time

import dagster as dg

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
from chitty_pipelines.platforms.claude_code.streams import PLATFORM, STATE_STREAM, STREAM, ClaudeSync
from chitty_pipelines.platforms.claude_code.tables import (
    MESSAGES,
    SESSIONS,
    SUBAGENTS,
    TABLES,
    TODOS,
    TOOL_CALLS,
)
from chitty_pipelines.warehouse.resource import WarehouseResource

GROUP = "claude_code"
KEY_PREFIX = "raw_local"
KINDS = {"claude", "duckdb"}


def asset_key(table_name: str) -> dg.AssetKey:
    return dg.AssetKey([KEY_PREFIX, table_name])


SPECS = [
    dg.AssetSpec(
        asset_key(t.name),
        description=t.description,
        group_name=GROUP,
        kinds=KINDS,
        metadata={"dagster/table_name": t.qualified, "dagster/column_schema": t.dagster_schema()},
    )
    for t in TABLES
]


@dg.multi_asset(
    name="claude_code_transcripts",
    specs=SPECS,
    description="Claude Code transcripts, subagents, tool calls and todos read incrementally from "
    "the Claude home folder(s); sessions derived with exact token de-duplication.",
)
def claude_code_transcripts(
    context: dg.AssetExecutionContext,
    config: SyncConfig,
    local_sessions: LocalSessionsResource,
    warehouse: WarehouseResource,
):
    started_at = now()
    t0 = time.monotonic()
    wh = warehouse.get()
    full = is_full_refresh(context, config)
    sync = ClaudeSync(wh, context.run.run_id, full, context.log.info)
    files = list(local_sessions.claude_transcripts())
    context.log.info(
        f"claude_code: {len(files)} transcript files under {len(local_sessions.claude_roots())} home(s)"
        + (" (full refresh)" if full else "")
    )
    sync.sync_transcripts(files)
    sync.sync_state_files(
        (folder, path) for folder in ("todos", "tasks") for path in local_sessions.claude_state_files(folder)
    )
    derived = sync.derive()
    st = sync.stats
    elapsed = time.monotonic() - t0
    context.log.info(
        f"claude_code: read {st.files_read} files ({st.bytes_read / 1e6:.1f} MB), skipped "
        f"{st.files_skipped}, {st.rejects} rejects, {elapsed:.1f}s"
    )
    shared = {
        "files_total": st.files_total,
        "files_read": st.files_read,
        "files_skipped": st.files_skipped,
        "files_failed": st.files_failed,
        "batches": st.batches,
        "sessions_recomputed": derived,
        "full_refresh": full,
        "duration_s": round(elapsed, 3),
        "mb_per_s": round(st.bytes_read / 1e6 / elapsed, 2) if elapsed > 0 else 0.0,
        "cursor": f"ops.sync_cursors platform={PLATFORM} streams={STREAM},{STATE_STREAM}",
    }
    for table in TABLES:
        stats = StreamStats(
            rows_written=st.written.get(table.name, 0),
            bytes_read=st.bytes_read,
            rejects=st.rejects,
            extra=shared,
        )
        log_sync(
            wh,
            context,
            platform=PLATFORM,
            asset=f"{KEY_PREFIX}/{table.name}",
            started_at=started_at,
            status="success",
            stats=stats,
            full_refresh=full,
        )
        yield dg.MaterializeResult(asset_key=asset_key(table.name), metadata=table_metadata(wh, table, stats))


def _unique_check(table_name: str, blocking: bool) -> Check:
    table = next(t for t in TABLES if t.name == table_name)
    return Check(
        asset_key(table_name),
        f"{table_name}_unique_key",
        unique_key_check(table),
        f"No two rows of {table.qualified} share ({', '.join(table.primary_key)}).",
        blocking=blocking,
    )


def claude_tool_calls_session_check(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
    wh = context.resources.warehouse.get()
    if not wh.table_exists(TOOL_CALLS.schema, TOOL_CALLS.name):
        return dg.AssetCheckResult(passed=True, metadata={"orphans": 0})
    orphans = int(
        wh.scalar(
            f"SELECT count(*) FROM {TOOL_CALLS.sql_name} t ANTI JOIN {SESSIONS.sql_name} s USING (session_id)"
        )
    )
    return dg.AssetCheckResult(passed=orphans == 0, metadata={"orphans": orphans})


def claude_sessions_tokens_check(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
    wh = context.resources.warehouse.get()
    if not wh.table_exists(SESSIONS.schema, SESSIONS.name):
        return dg.AssetCheckResult(passed=True, metadata={"bad_sessions": 0})
    bad = int(
        wh.scalar(
            f"SELECT count(*) FROM {SESSIONS.sql_name} WHERE total_tokens <> input_tokens + output_tokens"
            " + cache_creation_tokens + cache_read_tokens OR least(input_tokens, output_tokens,"
            " cache_creation_tokens, cache_read_tokens) < 0"
        )
    )
    return dg.AssetCheckResult(passed=bad == 0, metadata={"bad_sessions": bad})


CLAUDE_ASSETS: list[dg.AssetsDefinition] = [claude_code_transcripts]
# All eight in one step (common.bundled_checks says why).
claude_checks = bundled_checks(
    "claude_checks",
    [
        _unique_check(SESSIONS.name, blocking=True),
        _unique_check(MESSAGES.name, blocking=True),
        _unique_check(TOOL_CALLS.name, blocking=True),
        _unique_check(TODOS.name, blocking=False),
        _unique_check(SUBAGENTS.name, blocking=False),
        Check(
            asset_key(MESSAGES.name),
            "claude_messages_rejects",
            rejects_check(PLATFORM, [STREAM, STATE_STREAM]),
            "Malformed transcript or state-file lines (warns; they are in ops.rejects).",
        ),
        Check(
            asset_key(TOOL_CALLS.name),
            "claude_tool_calls_session_exists",
            claude_tool_calls_session_check,
            "Every tool call belongs to a session present in claude_sessions.",
            blocking=True,
        ),
        Check(
            asset_key(SESSIONS.name),
            "claude_sessions_tokens_add_up",
            claude_sessions_tokens_check,
            "Session token columns add up to total_tokens and are never negative.",
        ),
    ],
    {"warehouse"},
)
CLAUDE_CHECKS: list[dg.AssetChecksDefinition] = [claude_checks]


# Resources come from the platform registry (definitions.py), one per resource key.
defs = dg.Definitions(
    assets=CLAUDE_ASSETS,
    asset_checks=CLAUDE_CHECKS,
)
