"""One contender of the R2 inventory benchmark, run in its own process so its peak RSS is its own.

    python -m bench.r2_inventory.child baseline --endpoint URL --bucket B
    python -m bench.r2_inventory.child ours --endpoint URL --bucket B --warehouse FILE

Prints one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

ACCESS_KEY, SECRET_KEY = "bench-key-id", "bench-secret"


def baseline(endpoint: str, bucket: str) -> dict[str, object]:
    """The plain way: boto3's list_objects_v2 paginator, keeping (key, size, etag, mtime) in memory."""
    import boto3
    import botocore.config

    client = boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint,
        region_name="auto",
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        config=botocore.config.Config(signature_version="s3v4"),
    )
    requests = 0

    def count(**_kw: object) -> None:
        nonlocal requests
        requests += 1

    client.meta.events.register("before-send.s3", count)
    t0 = time.perf_counter()
    listing = {}
    for page in client.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, PaginationConfig={"PageSize": 1000}
    ):
        for obj in page.get("Contents", []):
            listing[obj["Key"]] = (obj["Size"], obj["ETag"], obj["LastModified"])
    return {"objects": len(listing), "requests": requests, "inner_wall_s": round(time.perf_counter() - t0, 3)}


def ours(endpoint: str, bucket: str, warehouse: str) -> dict[str, object]:
    """The R2 stream (its two tables of the Cloudflare step, without the checks) through the real
    Dagster runtime, into a DuckDB warehouse."""
    import dagster as dg

    from chitty_pipelines.platforms.cloudflare.assets import CLOUDFLARE_ASSETS
    from chitty_pipelines.platforms.cloudflare.resource import CloudflareResource
    from chitty_pipelines.platforms.cloudflare.tables import JSON_KEY, OBJECTS_KEY
    from chitty_pipelines.warehouse.resource import WarehouseResource

    cf = CloudflareResource(
        account_id="bench",
        r2_endpoint_url=endpoint,
        r2_access_key_id=ACCESS_KEY,
        r2_secret_access_key=SECRET_KEY,
        r2_buckets=[bucket],
    )
    t0 = time.perf_counter()
    result = dg.materialize(
        CLOUDFLARE_ASSETS,
        selection=dg.AssetSelection.assets(OBJECTS_KEY, JSON_KEY).without_checks(),
        resources={"cloudflare": cf, "warehouse": WarehouseResource(path=warehouse, lock_timeout_s=60)},
        instance=dg.DagsterInstance.ephemeral(),
    )
    wall = time.perf_counter() - t0
    md = next(
        e.materialization.metadata
        for e in result.get_asset_materialization_events()
        if e.asset_key == OBJECTS_KEY
    )
    picked = ("dagster/row_count", "rows_written", "requests", "objects_listed", "new", "changed", "deleted")
    return {"inner_wall_s": round(wall, 3), **{k.replace("dagster/", ""): md[k].value for k in picked}}


def framework() -> dict[str, object]:
    """Fixed cost only: the same imports and a Dagster run of a no-op asset (subtract from ours)."""
    import dagster as dg

    from chitty_pipelines.platforms.cloudflare import assets as cloudflare_assets  # noqa: F401  (same imports as ours)

    @dg.asset
    def noop() -> None:
        return None

    t0 = time.perf_counter()
    dg.materialize([noop], instance=dg.DagsterInstance.ephemeral())
    return {"inner_wall_s": round(time.perf_counter() - t0, 3)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["baseline", "ours", "framework"])
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--bucket", required=True)
    parser.add_argument("--warehouse")
    args = parser.parse_args()
    if args.mode == "baseline":
        out = baseline(args.endpoint, args.bucket)
    elif args.mode == "framework":
        out = framework()
    else:
        out = ours(args.endpoint, args.bucket, args.warehouse)
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
