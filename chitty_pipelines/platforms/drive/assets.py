"""Google Drive (group ``drive``, key prefix ``raw_drive``): the chittyos-data folder or a
shared drive, recursively, with full paths; incremental through the changes feed; small text
contents alongside. One step, built by the kernel, its checks evaluated after the data. Not
configured without credentials and a folder or shared drive id."""

import time
from collections.abc import Iterator

import dagster as dg

from chitty_pipelines.kernel.assets import Check, rejects_check, unique_key_check
from chitty_pipelines.kernel.platform_asset import PlatformRun, TableAsset, TableResult, platform_assets
from chitty_pipelines.platforms import registry
from chitty_pipelines.platforms.drive import streams
from chitty_pipelines.platforms.drive.health import probe
from chitty_pipelines.platforms.drive.resource import DriveResource
from chitty_pipelines.platforms.drive.streams import CONTENTS, FILES, PLATFORM

FILES_KEY = dg.AssetKey(["raw_drive", "files"])
CONTENTS_KEY = dg.AssetKey(["raw_drive", "file_contents"])


def sync(run: PlatformRun) -> Iterator[TableResult]:
    """List (first time, or full refresh) or apply the changes feed, then write both tables."""
    drive: DriveResource = run.resources.drive
    client = drive.client()
    clock = time.perf_counter()
    outcome = streams.sync(drive, client, run.warehouse, run.run_id, run.full_refresh)
    sync_seconds = round(time.perf_counter() - clock, 3)
    run.log(
        f"drive {outcome.mode} sync: {outcome.changes_seen} changes, {outcome.files_written} rows written, "
        f"{outcome.files_deleted} deleted, {outcome.contents_written} contents read, "
        f"{len(outcome.rejects)} rejects, {client.requests} requests"
    )
    files, contents = streams.results(outcome, drive, client.requests)
    files.metadata["sync_seconds"] = sync_seconds  # the sync alone, without Dagster's step overhead
    yield files
    yield contents


def drive_reachable(context: dg.AssetExecutionContext) -> dg.AssetCheckResult:
    drive: DriveResource = context.resources.drive
    health = probe(drive)
    if not health["configured"]:
        return dg.AssetCheckResult(passed=True, metadata={"configured": False, "reason": health["reason"]})
    return dg.AssetCheckResult(
        passed=bool(health["ok"]),
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={k: str(v) for k, v in health.items()},
    )


CHECKS = [
    Check(FILES_KEY, "drive_reachable", drive_reachable, "The root folder can be read."),
    Check(FILES_KEY, "files_unique_id", unique_key_check(FILES), "No file id appears twice."),
    Check(
        CONTENTS_KEY,
        "contents_rejects",
        rejects_check(PLATFORM, ["files", "file_contents"]),
        "Unparseable contents, by reason.",
    ),
]

raw_drive_sync = platform_assets(
    PLATFORM,
    name="raw_drive_sync",
    tables=[
        TableAsset(
            FILES,
            "Every file and folder below DRIVE_FOLDER_ID (or the whole DRIVE_SHARED_DRIVE_ID) with its "
            "full path, mime type, size, md5, times, owners and trash state. Incremental through Drive's "
            "changes feed; the page token is stored with the rows in one transaction.",
        ),
        TableAsset(
            CONTENTS,
            "Text of small JSON, Markdown and text files and of Google Docs (exported as text), up to "
            "DRIVE_CONTENT_MAX_BYTES; JSON parsed, invalid JSON kept as text and counted as a reject. "
            "Only files whose md5 (or modified time) changed are downloaded again.",
            deps=(FILES_KEY,),
        ),
    ],
    sync=sync,
    resource_key="drive",
    configured=lambda drive: drive.configured,
    setup_hint=registry.get(PLATFORM).setup_hint,
    checks=CHECKS,
    kinds=("googledrive",),
    description="Google Drive: the chittyos-data folder (or a shared drive) with paths, and small "
    "text contents, incremental through the changes feed.",
)

DRIVE_ASSETS: list[dg.AssetsDefinition] = [raw_drive_sync]
DRIVE_CHECKS: list[dg.AssetChecksDefinition] = []  # evaluated inside raw_drive_sync's step

# Resources come from the platform registry (definitions.py), one per resource key.
defs = dg.Definitions(assets=DRIVE_ASSETS)
