"""The Cloudflare platform (group ``cloudflare``, key prefix ``raw_cloudflare``): R2 object
inventory and JSON content, Workers KV entries and D1 rows, with health and data checks."""

from __future__ import annotations

import dagster as dg

from ...resources.cloudflare import CloudflareResource
from ...resources.warehouse import WarehouseResource
from .. import common
from .cloudflare_d1 import D1_KEY, d1_rows
from .cloudflare_kv import KV_KEY, kv_entries
from .cloudflare_r2 import JSON_KEY, OBJECTS_KEY, r2_assets
from .cloudflare_tables import D1_ROWS, KV_ENTRIES, PLATFORM, R2_JSON_OBJECTS, R2_OBJECTS


def _health_result(health: dict[str, object], key: dg.AssetKey) -> dg.AssetCheckResult:
    # Not configured is not a failure: nothing is expected of a platform the user never set up.
    return dg.AssetCheckResult(
        asset_key=key,
        passed=health["ok"] is not False,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"configured": bool(health["configured"]), "reason": str(health["reason"])},
    )


@dg.asset_check(
    asset=OBJECTS_KEY, name="r2_reachable", description="Every configured bucket answers HeadBucket."
)
def r2_reachable(cloudflare: CloudflareResource) -> dg.AssetCheckResult:
    return _health_result(cloudflare.r2_health(), OBJECTS_KEY)


@dg.asset_check(asset=KV_KEY, name="api_token_valid", description="The v4 API token verifies as active.")
def kv_token_valid(cloudflare: CloudflareResource) -> dg.AssetCheckResult:
    return _health_result(cloudflare.api_health(), KV_KEY)


@dg.asset_check(asset=D1_KEY, name="api_token_valid", description="The v4 API token verifies as active.")
def d1_token_valid(cloudflare: CloudflareResource) -> dg.AssetCheckResult:
    return _health_result(cloudflare.api_health(), D1_KEY)


def _unique_check(key: dg.AssetKey, table, name: str):
    @dg.asset_check(asset=key, name=name, description=f"{table.qualified} has no duplicate primary key.")
    def _check(warehouse: WarehouseResource) -> dg.AssetCheckResult:
        return common.unique_key_check_result(warehouse.get(), table, key)

    return _check


@dg.asset_check(asset=JSON_KEY, name="no_rejects", description="No R2 JSON object was rejected.")
def r2_json_rejects(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    return common.rejects_check_result(warehouse.get(), PLATFORM, ["r2_json_objects"], JSON_KEY)


@dg.asset_check(asset=D1_KEY, name="no_rejects", description="No D1 table was skipped.")
def d1_rejects(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    return common.rejects_check_result(warehouse.get(), PLATFORM, ["d1_rows"], D1_KEY)


CLOUDFLARE_ASSETS = [r2_assets, kv_entries, d1_rows]
CLOUDFLARE_CHECKS = [
    r2_reachable,
    kv_token_valid,
    d1_token_valid,
    r2_json_rejects,
    d1_rejects,
    _unique_check(OBJECTS_KEY, R2_OBJECTS, "unique_key"),
    _unique_check(JSON_KEY, R2_JSON_OBJECTS, "unique_key"),
    _unique_check(KV_KEY, KV_ENTRIES, "unique_key"),
    _unique_check(D1_KEY, D1_ROWS, "unique_key"),
]

defs = dg.Definitions(
    assets=CLOUDFLARE_ASSETS,
    asset_checks=CLOUDFLARE_CHECKS,
    resources={"cloudflare": CloudflareResource.from_settings()},
)
