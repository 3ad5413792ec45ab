"""Shared helpers of the Cloudflare tests: moto as R2, the v4 fake, resources aimed at them."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
import botocore.config
import dagster as dg

from chitty_pipelines.platforms.cloudflare import assets as cf_assets
from chitty_pipelines.platforms.cloudflare.fake import FakeCloudflare
from chitty_pipelines.platforms.cloudflare.resource import CloudflareResource
from chitty_pipelines.platforms.cloudflare.tables import D1_KEY, JSON_KEY, KV_KEY, OBJECTS_KEY
from chitty_pipelines.warehouse import Warehouse
from chitty_pipelines.warehouse.resource import WarehouseResource

ACCOUNT = "acc123"
TOKEN = "cf-secret-TOKEN-5f1e2d3c4b5a"  # distinctive, so a leak anywhere is found by a substring search
R2_KEY_ID = "r2-key-id-AKIA9876"
R2_SECRET = "r2-secret-SECRET-0a1b2c3d"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def moto_server() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def s3(endpoint: str) -> Any:
    return boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint,
        region_name="auto",
        aws_access_key_id=R2_KEY_ID,
        aws_secret_access_key=R2_SECRET,
        config=botocore.config.Config(signature_version="s3v4", max_pool_connections=32),
    )


def create_bucket(client: Any, bucket: str) -> None:
    # moto artefact: with region "auto" the location constraint must be given (real R2 does not need it).
    client.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "auto"})


def resource(**overrides: Any) -> CloudflareResource:
    settings: dict[str, Any] = {"account_id": ACCOUNT, "api_rate_per_s": 0, "api_max_wait_s": 0.2}
    settings.update(overrides)
    return CloudflareResource(**settings)


def fake(**kwargs: Any) -> FakeCloudflare:
    return FakeCloudflare(account_id=ACCOUNT, token=TOKEN, **kwargs)


def materialize(
    selection: list[Any],
    cloudflare: CloudflareResource,
    warehouse: WarehouseResource,
    *,
    run_config: dict[str, Any] | None = None,
    raise_on_error: bool = True,
    instance: dg.DagsterInstance | None = None,
) -> dg.ExecuteInProcessResult:
    """``selection``: definitions to materialize, or keys of Cloudflare's tables (``R2``, ``KV``,
    ``D1``): the subset of its one step that syncs just those streams, without the checks."""
    keys = [s for s in selection if isinstance(s, dg.AssetKey)]
    return dg.materialize(
        ASSETS if keys else selection,
        selection=dg.AssetSelection.assets(*keys).without_checks() if keys else None,
        resources={"cloudflare": cloudflare, "warehouse": warehouse},
        run_config=run_config,
        raise_on_error=raise_on_error,
        instance=instance or dg.DagsterInstance.ephemeral(),
    )


def metadata(result: dg.ExecuteInProcessResult, key: dg.AssetKey) -> dict[str, Any]:
    for mat in result.get_asset_materialization_events():
        if mat.asset_key == key:
            return {k: getattr(v, "value", v) for k, v in mat.materialization.metadata.items()}
    raise AssertionError(f"no materialization of {key}")


def rows(wh: Warehouse, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in wh.rows(sql, params)]  # plain values: NULL is None, never NaN


ASSETS = cf_assets.CLOUDFLARE_ASSETS
CHECKS = cf_assets.CLOUDFLARE_CHECKS  # empty: the checks run inside the platform's step
# One stream's tables, for ``materialize``: a subset of the platform's one step.
R2 = [OBJECTS_KEY, JSON_KEY]
KV = [KV_KEY]
D1 = [D1_KEY]
OP = "cloudflare_sync"  # the step's name, for run config


def failure_text(result: dg.ExecuteInProcessResult) -> str:
    """Everything a user sees about the failed steps: messages, causes and stack traces."""
    texts = []
    for event in result.all_events:
        if event.is_step_failure:
            texts.append(event.event_specific_data.error.to_string())  # type: ignore[union-attr]
    assert texts, "expected a failed step"
    return "\n".join(texts)
