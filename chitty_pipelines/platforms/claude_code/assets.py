"""Claude Code transcripts on this machine -> ``raw_local.claude_*`` tables, and their checks.

One multi-asset reads every transcript layout (v1.0 inline sidechains, v2.0 flat agent files,
v2.1 ``<session>/subagents/``) plus the todos/ and tasks/ state folders, incrementally by file
cursor (session-formats.md §1.14), and derives per-session aggregates with exact token
de-duplication (§1.8) in SQL.
"""

import time
from collections.abc import Iterator

import dagster as dg

from chitty_pipelines.kernel.assets import Check, rejects_check, unique_key_check
from chitty_pipelines.kernel.local_files import LocalSessionsResource, SkippedPath
from chitty_pipelines.kernel.platform_asset import PlatformRun, TableAsset, TableResult, platform_assets
from chitty_pipelines.platforms.claude_code.streams import PLATFORM, STATE_STREAM, STREAM, ClaudeSync
from chitty_pipelines.platforms.claude_code.tables import (
    MESSAGES,
    SESSIONS,
    SUBAGENTS,
    TABLES,
    TODOS,
    TOOL_CALLS,
)

GROUP = "claude_code"
KEY_PREFIX = "raw_local"


def asset_key(table_name: str) -> dg.AssetKey:
    return dg.AssetKey([KEY_PREFIX, table_name])


def sync(run: PlatformRun) -> Iterator[TableResult]:
    """Read new and grown transcript files and the todos/ and tasks/ state files, then derive the
    changed sessions with exact token de-duplication."""
    local_sessions: LocalSessionsResource = run.resources.local_sessions
    t0 = time.monotonic()
    # A named folder that is not there: a warning (the other homes still land), never silence.
    warning = "; ".join(local_sessions.missing_folders("claude"))
    claude = ClaudeSync(run.warehouse, run.run_id, run.full_refresh, run.log)
    skipped: list[SkippedPath] = []
    files = list(local_sessions.claude_transcripts(skipped))
    run.log(
        f"claude_code: {len(files)} transcript files under {len(local_sessions.claude_roots())} home(s)"
        + (" (full refresh)" if run.full_refresh else "")
    )
    claude.sync_transcripts(files)
    state_files = [
        (folder, path)
        for folder in ("todos", "tasks")
        for path in local_sessions.claude_state_files(folder, skipped)
    ]
    claude.sync_state_files(state_files)
    claude.reject_skipped(skipped)
    derived = claude.derive()
    st = claude.stats
    elapsed = time.monotonic() - t0
    run.log(
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
        "mb_per_s": round(st.bytes_read / 1e6 / elapsed, 2) if elapsed > 0 else 0.0,
        "cursor": f"ops.sync_cursors platform={PLATFORM} streams={STREAM},{STATE_STREAM}",
    }
    # The files are read once, into claude_messages: the bytes are that table's (the others are
    # derived from it or from small state files), so no table claims the whole step's reading.
    for table in TABLES:
        nbytes = st.bytes_read if table is MESSAGES else 0
        yield TableResult(
            table, st.written.get(table.name, 0), nbytes, st.rejects, dict(shared), warning=warning
        )


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
            f"SELECT count(*) FROM {TOOL_CALLS.sql_name} t WHERE NOT EXISTS "
            f"(SELECT 1 FROM {SESSIONS.sql_name} s WHERE s.session_id = t.session_id)"
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


_CHECKS = [
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
]

claude_code_transcripts = platform_assets(
    PLATFORM,
    name="claude_code_transcripts",
    tables=[TableAsset(t) for t in TABLES],
    sync=sync,
    resource_key="local_sessions",
    checks=_CHECKS,
    kinds={"claude"},
    description="Claude Code transcripts, subagents, tool calls and todos read incrementally from "
    "the Claude home folder(s); sessions derived with exact token de-duplication.",
)

CLAUDE_ASSETS: list[dg.AssetsDefinition] = [claude_code_transcripts]
CLAUDE_CHECKS: list[dg.AssetChecksDefinition] = []  # evaluated inside claude_code_transcripts' step


# Resources come from the platform registry (definitions.py), one per resource key.
defs = dg.Definitions(
    assets=CLAUDE_ASSETS,
    asset_checks=CLAUDE_CHECKS,
)
