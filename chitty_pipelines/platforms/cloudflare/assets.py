"""The Cloudflare platform (group ``cloudflare``, key prefix ``raw_cloudflare``): R2 object
inventory and JSON content, Workers KV entries and D1 rows, with health and data checks."""

from __future__ import annotations

import dagster as dg

from chitty_pipelines.kernel import assets as common
from chitty_pipelines.platforms.cloudflare.d1 import D1_KEY, d1_rows
from chitty_pipelines.platforms.cloudflare.kv import KV_KEY, kv_entries
from chitty_pipelines.platforms.cloudflare.r2 import JSON_KEY, OBJECTS_KEY, r2_assets
from chitty_pipelines.platforms.cloudflare.resource import CloudflareResource
from chitty_pipelines.platforms.cloudflare.tables import (
    D1_ROWS,
    KV_ENTRIES,
    PLATFORM,
    R2_JSON_OBJECTS,
    R2_OBJECTS,
)
from chitty_pipelines.warehouse import TableSpec


def _health_result(health: dict[str, object], key: dg.AssetKey) -> dg.AssetCheckResult:
    # Not configured is not a failure: nothing is expected of a platform the user never set up.
    return dg.AssetCheckResult(
        asset_key=key,
        passed=health["ok"] is not False,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"configured": bool(health["configured"]), "reason": str(health["reason"])},
    )


def r2_reachable(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
    cloudflare: CloudflareResource = context.resources.cloudflare
    return _health_result(cloudflare.r2_health(), OBJECTS_KEY)


def _token_valid(key: dg.AssetKey) -> common.Check:
    def _check(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
        cloudflare: CloudflareResource = context.resources.cloudflare
        return _health_result(cloudflare.api_health(), key)

    return common.Check(key, "api_token_valid", _check, "The v4 API token verifies as active.")


def _unique_check(key: dg.AssetKey, table: TableSpec, name: str) -> common.Check:
    return common.Check(
        key, name, common.unique_key_check(table), f"{table.qualified} has no duplicate primary key."
    )


def _rejects_check(key: dg.AssetKey, stream: str, description: str) -> common.Check:
    return common.Check(key, "no_rejects", common.rejects_check(PLATFORM, [stream]), description)


CLOUDFLARE_ASSETS = [r2_assets, kv_entries, d1_rows]
# All of Cloudflare's checks in one step (common.bundled_checks says why).
cloudflare_checks = common.bundled_checks(
    "cloudflare_checks",
    [
        common.Check(
            OBJECTS_KEY, "r2_reachable", r2_reachable, "Every configured bucket answers HeadBucket."
        ),
        _token_valid(KV_KEY),
        _token_valid(D1_KEY),
        _rejects_check(JSON_KEY, "r2_json_objects", "No R2 JSON object was rejected."),
        _rejects_check(D1_KEY, "d1_rows", "No D1 table was skipped."),
        _unique_check(OBJECTS_KEY, R2_OBJECTS, "unique_key"),
        _unique_check(JSON_KEY, R2_JSON_OBJECTS, "unique_key"),
        _unique_check(KV_KEY, KV_ENTRIES, "unique_key"),
        _unique_check(D1_KEY, D1_ROWS, "unique_key"),
    ],
    {"cloudflare", "warehouse"},
)
CLOUDFLARE_CHECKS = [cloudflare_checks]

# Resources come from the platform registry (definitions.py), one per resource key.
defs = dg.Definitions(
    assets=CLOUDFLARE_ASSETS,
    asset_checks=CLOUDFLARE_CHECKS,
)
