"""Google Drive (group ``drive``, key prefix ``raw_drive``): the chittyos-data folder or a
shared drive, recursively, with full paths; incremental through the changes feed; small text
contents alongside. Not configured without credentials and a folder or shared drive id."""

import time
from collections.abc import Iterator

import dagster as dg

from chitty_pipelines.kernel.assets import (
    Check,
    StreamStats,
    SyncConfig,
    bundled_checks,
    is_full_refresh,
    log_sync,
    not_configured_results,
    now,
    rejects_check,
    table_metadata,
    unique_key_check,
)
from chitty_pipelines.platforms.drive.health import probe
from chitty_pipelines.platforms.drive.resource import DriveResource
from chitty_pipelines.platforms.drive.streams import CONTENTS, FILES, PLATFORM, sync
from chitty_pipelines.warehouse.resource import WarehouseResource

FILES_KEY = dg.AssetKey(["raw_drive", "files"])
CONTENTS_KEY = dg.AssetKey(["raw_drive", "file_contents"])
KINDS = {"googledrive", "duckdb"}

SPECS = [
    dg.AssetSpec(
        FILES_KEY,
        kinds=KINDS,
        group_name=PLATFORM,
        description=(
            "Every file and folder below DRIVE_FOLDER_ID (or the whole DRIVE_SHARED_DRIVE_ID) with its "
            "full path, mime type, size, md5, times, owners and trash state. Incremental through Drive's "
            "changes feed; the page token is stored with the rows in one transaction."
        ),
    ),
    dg.AssetSpec(
        CONTENTS_KEY,
        kinds=KINDS,
        group_name=PLATFORM,
        deps=[FILES_KEY],
        description=(
            "Text of small JSON, Markdown and text files and of Google Docs (exported as text), up to "
            "DRIVE_CONTENT_MAX_BYTES; JSON parsed, invalid JSON kept as text and counted as a reject. "
            "Only files whose md5 (or modified time) changed are downloaded again."
        ),
    ),
]


@dg.multi_asset(specs=SPECS, name="raw_drive_sync", can_subset=False)
def raw_drive_sync(
    context: dg.AssetExecutionContext,
    config: SyncConfig,
    drive: DriveResource,
    warehouse: WarehouseResource,
) -> Iterator[dg.MaterializeResult]:
    started = now()
    wh = warehouse.get()
    full = is_full_refresh(context, config)
    if not drive.configured:
        reason = drive.not_configured_reason()
        context.log.info(reason)
        for spec in SPECS:
            log_sync(
                wh,
                context,
                platform=PLATFORM,
                asset=spec.key.to_user_string(),
                started_at=started,
                status="not_configured",
                message=reason,
            )
        yield from not_configured_results(SPECS, reason)
        return

    client = drive.client()
    clock = time.perf_counter()
    outcome = sync(drive, client, wh, context.run.run_id, full)
    sync_seconds = round(time.perf_counter() - clock, 3)
    context.log.info(
        f"drive {outcome.mode} sync: {outcome.changes_seen} changes, {outcome.files_written} rows written, "
        f"{outcome.files_deleted} deleted, {outcome.contents_written} contents read, "
        f"{len(outcome.rejects)} rejects, {client.requests} requests"
    )
    content_rejects = sum(1 for r in outcome.rejects if r.stream == "file_contents")
    file_stats = StreamStats(
        rows_written=outcome.files_written,
        rejects=len(outcome.rejects) - content_rejects,
        extra={
            "mode": outcome.mode,
            "changes_seen": outcome.changes_seen,
            "rows_deleted": outcome.files_deleted,
            "page_token": outcome.page_token,
            "root_id": drive.root_id or "",
            "api_requests": client.requests,
            "sync_seconds": sync_seconds,
        },
    )
    content_stats = StreamStats(
        rows_written=outcome.contents_written,
        bytes_read=outcome.content_bytes,
        rejects=content_rejects,
        extra={"rows_deleted": outcome.contents_deleted, "max_bytes": drive.content_max_bytes},
    )
    for key, table, stats in ((FILES_KEY, FILES, file_stats), (CONTENTS_KEY, CONTENTS, content_stats)):
        log_sync(
            wh,
            context,
            platform=PLATFORM,
            asset=key.to_user_string(),
            started_at=started,
            status="success",
            stats=stats,
            full_refresh=full,
        )
        yield dg.MaterializeResult(asset_key=key, metadata=table_metadata(wh, table, stats))


def drive_reachable(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
    drive: DriveResource = context.resources.drive
    health = probe(drive)
    if not health["configured"]:
        return dg.AssetCheckResult(passed=True, metadata={"configured": False, "reason": health["reason"]})
    return dg.AssetCheckResult(
        passed=bool(health["ok"]),
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={k: str(v) for k, v in health.items()},
    )


# One step for all of Drive's checks (common.bundled_checks says why).
drive_checks = bundled_checks(
    "drive_checks",
    [
        Check(FILES_KEY, "drive_reachable", drive_reachable, "The root folder can be read."),
        Check(FILES_KEY, "files_unique_id", unique_key_check(FILES), "No file id appears twice."),
        Check(
            CONTENTS_KEY,
            "contents_rejects",
            rejects_check(PLATFORM, ["files", "file_contents"]),
            "Unparseable contents, by reason.",
        ),
    ],
    {"drive", "warehouse"},
)


DRIVE_ASSETS = [raw_drive_sync]
DRIVE_CHECKS = [drive_checks]

# Resources come from the platform registry (definitions.py), one per resource key.
defs = dg.Definitions(
    assets=DRIVE_ASSETS,
    asset_checks=DRIVE_CHECKS,
)
