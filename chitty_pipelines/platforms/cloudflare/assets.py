"""The Cloudflare platform (group ``cloudflare``, key prefix ``raw_cloudflare``): R2 object
inventory and JSON content, Workers KV entries and D1 rows, with health and data checks.

One step (the kernel's ``platform_assets``) runs the streams whose tables are selected
(``streams.sync_r2``, ``sync_kv``, ``sync_d1``); each stream whose settings are missing says so
with zero rows while the others run. The checks run in the same step, after the data.
"""

from collections.abc import Iterator

import dagster as dg

from chitty_pipelines.kernel.assets import Check, rejects_check, unique_key_check
from chitty_pipelines.kernel.platform_asset import PlatformRun, TableAsset, TableResult, platform_assets
from chitty_pipelines.platforms.cloudflare.resource import CloudflareResource
from chitty_pipelines.platforms.cloudflare.streams import sync_d1, sync_kv, sync_r2
from chitty_pipelines.platforms.cloudflare.tables import (
    D1_KEY,
    D1_ROWS,
    JSON_KEY,
    KV_ENTRIES,
    KV_KEY,
    OBJECTS_KEY,
    PLATFORM,
    R2_JSON_OBJECTS,
    R2_OBJECTS,
)
from chitty_pipelines.warehouse import TableSpec


def sync(run: PlatformRun) -> Iterator[TableResult]:
    """R2 (both its tables: one stream), KV and D1, each only when one of its tables is selected."""
    cloudflare: CloudflareResource = run.resources.cloudflare
    args = (cloudflare, run.warehouse, run.run_id, run.full_refresh, run.log)
    if run.selected & {OBJECTS_KEY, JSON_KEY}:
        yield from sync_r2(*args)
    if KV_KEY in run.selected:
        yield sync_kv(*args)
    if D1_KEY in run.selected:
        yield sync_d1(*args)


def _health_result(health: dict[str, object]) -> dg.AssetCheckResult:
    # Not configured is not a failure: nothing is expected of a platform the user never set up.
    return dg.AssetCheckResult(
        passed=health["ok"] is not False,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"configured": bool(health["configured"]), "reason": str(health["reason"])},
    )


def r2_reachable(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
    cloudflare: CloudflareResource = context.resources.cloudflare
    return _health_result(cloudflare.r2_health())


def api_token_valid(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
    cloudflare: CloudflareResource = context.resources.cloudflare
    return _health_result(cloudflare.api_health())


def _unique_check(key: dg.AssetKey, table: TableSpec) -> Check:
    return Check(
        key, "unique_key", unique_key_check(table), f"{table.qualified} has no duplicate primary key."
    )


def _rejects_check(key: dg.AssetKey, stream: str, description: str) -> Check:
    return Check(key, "no_rejects", rejects_check(PLATFORM, [stream]), description)


_CHECKS = [
    Check(OBJECTS_KEY, "r2_reachable", r2_reachable, "Every configured bucket answers HeadBucket."),
    Check(KV_KEY, "api_token_valid", api_token_valid, "The v4 API token verifies as active."),
    Check(D1_KEY, "api_token_valid", api_token_valid, "The v4 API token verifies as active."),
    _rejects_check(JSON_KEY, "r2_json_objects", "No R2 JSON object was rejected."),
    _rejects_check(D1_KEY, "d1_rows", "No D1 table was skipped."),
    _unique_check(OBJECTS_KEY, R2_OBJECTS),
    _unique_check(JSON_KEY, R2_JSON_OBJECTS),
    _unique_check(KV_KEY, KV_ENTRIES),
    _unique_check(D1_KEY, D1_ROWS),
]

cloudflare_sync = platform_assets(
    PLATFORM,
    name="cloudflare_sync",
    tables=[
        TableAsset(R2_OBJECTS, kinds=frozenset({"s3"})),
        TableAsset(R2_JSON_OBJECTS, kinds=frozenset({"json"})),
        TableAsset(KV_ENTRIES),
        TableAsset(D1_ROWS, kinds=frozenset({"sqlite"})),
    ],
    sync=sync,
    resource_key="cloudflare",
    # No platform-wide switch: R2, KV and D1 are set up separately, and each stream reports
    # itself not configured (TableResult.not_configured) while the others run.
    checks=_CHECKS,
    description="Cloudflare: R2 object inventory (by listing diff) and JSON content under prefixes, "
    "Workers KV keys and values, and every user table of the D1 databases (keyset pages).",
)

CLOUDFLARE_ASSETS: list[dg.AssetsDefinition] = [cloudflare_sync]
CLOUDFLARE_CHECKS: list[dg.AssetChecksDefinition] = []  # evaluated inside cloudflare_sync's step

# Resources come from the platform registry (definitions.py), one per resource key.
defs = dg.Definitions(assets=CLOUDFLARE_ASSETS)
