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
from chitty_pipelines.platforms.chatgpt.streams import (
    CONVERSATIONS,
    MESSAGES,
    PLATFORM,
    STREAM,
    SyncOutcome,
    sync_exports,
)
from chitty_pipelines.warehouse.resource import WarehouseResource

CONVERSATIONS_KEY = dg.AssetKey(["raw_local", "chatgpt_conversations"])
MESSAGES_KEY = dg.AssetKey(["raw_local", "chatgpt_messages"])
_KINDS = {"chatgpt", "duckdb"}
_MAX_FILES_SHOWN = 50


class ChatgptSyncConfig(SyncConfig):
    batch_messages: int = Field(
        default=5000,
        description="Messages per write transaction; bounds memory on exports of hundreds of MB.",
    )


@dg.multi_asset(
    name="chatgpt_exports",
    group_name="chatgpt",
    specs=[
        dg.AssetSpec(
            CONVERSATIONS_KEY,
            kinds=_KINDS,
            description=CONVERSATIONS.description
            + " Read from ChatGPT data exports (conversations.json) under CHITTY_EXPORTS_DIR.",
        ),
        dg.AssetSpec(
            MESSAGES_KEY,
            kinds=_KINDS,
            deps=[CONVERSATIONS_KEY],
            description=MESSAGES.description + " The visible thread is walked from current_node to the root.",
        ),
    ],
)
def chatgpt_exports(
    context: dg.AssetExecutionContext,
    config: ChatgptSyncConfig,
    warehouse: WarehouseResource,
    local_sessions: LocalSessionsResource,
) -> Iterator[dg.MaterializeResult]:
    started = now()
    wh = warehouse.get()
    full = is_full_refresh(context, config)
    files = list(local_sessions.chatgpt_exports())
    outcome = sync_exports(
        wh, files, run_id=context.run.run_id, full_refresh=full, batch_messages=config.batch_messages
    )
    context.log.info(
        f"ChatGPT exports: {outcome.files_read} file(s) read, {outcome.files_skipped} unchanged, "
        f"{outcome.conversations_written} conversation(s), {outcome.messages_written} message(s), "
        f"{outcome.rejects} reject(s)"
    )
    common = _common_metadata(outcome, local_sessions.exports_dir, full)
    conv_stats = StreamStats(outcome.conversations_written, outcome.bytes_read, outcome.rejects, common)
    msg_stats = StreamStats(outcome.messages_written, outcome.bytes_read, outcome.rejects, common)
    for asset, stats in (("chatgpt_conversations", conv_stats), ("chatgpt_messages", msg_stats)):
        log_sync(
            wh,
            context,
            platform=PLATFORM,
            asset=asset,
            started_at=started,
            status="success",
            stats=stats,
            full_refresh=full,
            message=f"{len(files)} export file(s) under {local_sessions.exports_dir}",
        )
    yield dg.MaterializeResult(
        asset_key=CONVERSATIONS_KEY, metadata=table_metadata(wh, CONVERSATIONS, conv_stats)
    )
    yield dg.MaterializeResult(asset_key=MESSAGES_KEY, metadata=table_metadata(wh, MESSAGES, msg_stats))


def _common_metadata(outcome: SyncOutcome, exports_dir: str, full: bool) -> dict[str, object]:
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
        "full_refresh": full,
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
                f"SELECT count(*) FROM {MESSAGES.sql_name} m ANTI JOIN {CONVERSATIONS.sql_name} c "
                "USING (conversation_id)"
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
# All four in one step (common.bundled_checks says why).
chatgpt_checks = bundled_checks("chatgpt_checks", _CHECKS, {"warehouse"})
# Each also on its own, for runs (and tests) that pick some; never together with chatgpt_checks.
(
    chatgpt_conversations_unique_key,
    chatgpt_messages_unique_key,
    chatgpt_rejects,
    chatgpt_messages_have_conversation,
) = (bundled_checks(c.name, [c], {"warehouse"}) for c in _CHECKS)

CHATGPT_ASSETS: list[dg.AssetsDefinition] = [chatgpt_exports]
CHATGPT_CHECKS: list[dg.AssetChecksDefinition] = [chatgpt_checks]

# Resources come from the platform registry (definitions.py), one per resource key.
defs = dg.Definitions(
    assets=CHATGPT_ASSETS,
    asset_checks=CHATGPT_CHECKS,
)
