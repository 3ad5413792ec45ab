"""ChatGPT data exports found under the exports folder (``CHITTY_EXPORTS_DIR``).

One multi-asset reads every ``conversations.json``-like file into two tables,
``raw_local.chatgpt_conversations`` and ``raw_local.chatgpt_messages``; the reading rules live
in ``local_chatgpt_sync`` and the tree walk in ``parsers/chatgpt``.
"""

# No ``from __future__ import annotations``: Dagster reads the config class from the real annotation.
from collections.abc import Iterator

import dagster as dg
from pydantic import Field

from chitty_pipelines.kernel.assets import (
    Check,
    SyncConfig,
    rejects_check,
    unique_key_check,
)
from chitty_pipelines.kernel.local_files import LocalSessionsResource, SkippedPath
from chitty_pipelines.kernel.platform_asset import PlatformRun, TableAsset, TableResult, platform_assets
from chitty_pipelines.platforms.chatgpt.streams import (
    CONVERSATIONS,
    MESSAGES,
    PLATFORM,
    STREAM,
    SyncOutcome,
    sync_exports,
)

CONVERSATIONS_KEY = dg.AssetKey(["raw_local", "chatgpt_conversations"])
MESSAGES_KEY = dg.AssetKey(["raw_local", "chatgpt_messages"])
_KINDS = {"chatgpt", "duckdb"}
_MAX_FILES_SHOWN = 50


class ChatgptSyncConfig(SyncConfig):
    batch_messages: int = Field(
        default=5000,
        description="Messages per write transaction; bounds memory on exports of hundreds of MB.",
    )


def sync(run: PlatformRun) -> Iterator[TableResult]:
    """Read every new or changed export file (a JSON array cannot be resumed: changed = re-read)."""
    config: ChatgptSyncConfig = run.config  # type: ignore[assignment]
    local_sessions: LocalSessionsResource = run.resources.local_sessions
    warning = "; ".join(local_sessions.missing_folders("exports"))  # reported, not fatal
    skipped: list[SkippedPath] = []
    files = list(local_sessions.chatgpt_exports(skipped))
    outcome = sync_exports(
        run.warehouse,
        files,
        run_id=run.run_id,
        full_refresh=run.full_refresh,
        batch_messages=config.batch_messages,
        skipped=skipped,
        progress=run.log,
    )
    run.log(
        f"ChatGPT exports: {outcome.files_read} file(s) read, {outcome.files_skipped} unchanged, "
        f"{outcome.conversations_written} conversation(s), {outcome.messages_written} message(s), "
        f"{outcome.rejects} reject(s)"
    )
    common = _common_metadata(outcome, local_sessions.exports_dir)
    message = f"{len(files)} export file(s) under {local_sessions.exports_dir}"
    # One read of the export files yields both tables: its bytes are counted once, on messages.
    yield TableResult(
        CONVERSATIONS,
        outcome.conversations_written,
        0,
        outcome.rejects,
        dict(common),
        message,
        warning=warning,
    )
    yield TableResult(
        MESSAGES,
        outcome.messages_written,
        outcome.bytes_read,
        outcome.rejects,
        dict(common),
        message,
        warning=warning,
    )


def _common_metadata(outcome: SyncOutcome, exports_dir: str) -> dict[str, object]:
    files = outcome.files[:_MAX_FILES_SHOWN]
    table = [
        "| file | action | bytes read | conversations | messages | rejects |",
        "|---|---|---|---|---|---|",
    ]
    table += [
        f"| {f.path} | {f.action} | {f.bytes_read} | {f.conversations} | {f.messages} | {f.rejects} |"
        for f in files
    ]
    return {
        "exports_dir": exports_dir,
        "files_seen": len(outcome.files),
        "files_read": outcome.files_read,
        "files_skipped": outcome.files_skipped,
        "conversations_read": outcome.conversations_read,
        "conversations_superseded": outcome.conversations_superseded,
        "files": dg.MetadataValue.md("\n".join(table) if files else "no export files found"),
    }


def _messages_have_conversation(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
    wh = context.resources.warehouse.get()
    if not wh.table_exists(MESSAGES.schema, MESSAGES.name):
        return dg.AssetCheckResult(passed=True, metadata={"orphan_messages": 0})
    orphans = 0
    if wh.table_exists(CONVERSATIONS.schema, CONVERSATIONS.name):
        orphans = int(
            wh.scalar(
                f"SELECT count(*) FROM {MESSAGES.sql_name} m WHERE NOT EXISTS "
                f"(SELECT 1 FROM {CONVERSATIONS.sql_name} c WHERE c.conversation_id = m.conversation_id)"
            )
        )
    else:
        orphans = wh.row_count(MESSAGES)
    return dg.AssetCheckResult(
        passed=orphans == 0, severity=dg.AssetCheckSeverity.ERROR, metadata={"orphan_messages": orphans}
    )


_CHECKS = [
    Check(
        CONVERSATIONS_KEY,
        "chatgpt_conversations_unique_key",
        unique_key_check(CONVERSATIONS),
        "conversation_id is unique.",
        blocking=True,
    ),
    Check(
        MESSAGES_KEY,
        "chatgpt_messages_unique_key",
        unique_key_check(MESSAGES),
        "(conversation_id, node_id) is unique.",
        blocking=True,
    ),
    Check(
        CONVERSATIONS_KEY,
        "chatgpt_rejects",
        rejects_check(PLATFORM, [STREAM]),
        "Export files or conversations that were rejected.",
    ),
    Check(
        MESSAGES_KEY,
        "chatgpt_messages_have_conversation",
        _messages_have_conversation,
        "Every message belongs to a known conversation.",
    ),
]
chatgpt_exports = platform_assets(
    PLATFORM,
    name="chatgpt_exports",
    tables=[
        TableAsset(
            CONVERSATIONS,
            CONVERSATIONS.description
            + " Read from ChatGPT data exports (conversations.json) under CHITTY_EXPORTS_DIR.",
        ),
        TableAsset(
            MESSAGES,
            MESSAGES.description + " The visible thread is walked from current_node to the root.",
            deps=(CONVERSATIONS_KEY,),
        ),
    ],
    sync=sync,
    resource_key="local_sessions",
    config_class=ChatgptSyncConfig,
    checks=_CHECKS,
    description="ChatGPT data exports: conversations and every message node, read incrementally by file.",
)

CHATGPT_ASSETS: list[dg.AssetsDefinition] = [chatgpt_exports]
CHATGPT_CHECKS: list[dg.AssetChecksDefinition] = []  # evaluated inside chatgpt_exports' step

# Resources come from the platform registry (definitions.py), one per resource key.
defs = dg.Definitions(assets=CHATGPT_ASSETS)
