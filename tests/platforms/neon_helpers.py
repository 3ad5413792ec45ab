"""Shared pieces of the Neon tests: a private database per test, the resource, materializing."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import dagster as dg
import psycopg
import pytest
from postgres_harness import fresh_database, with_database

from chitty_pipelines.platforms.neon.assets import (
    build_by_day_asset,
    build_stream_asset,
    build_unique_key_check,
    neon_health,
)
from chitty_pipelines.platforms.neon.resource import NeonResource
from chitty_pipelines.platforms.neon.stream_config import StreamSpec
from chitty_pipelines.warehouse.resource import WarehouseResource

PASSWORD = "pw-S3cret-7731"


def neon_database(postgres_dsn: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh database; the DSN carries a password (the test cluster trusts, so it is ignored by
    the server but must never show up anywhere) and is exported as NEON_DATABASE_URL."""
    with fresh_database(postgres_dsn, "neon") as dsn:
        dsn = with_database(dsn, psycopg.conninfo.conninfo_to_dict(dsn)["dbname"], password=PASSWORD)
        monkeypatch.setenv("NEON_DATABASE_URL", dsn)
        yield dsn


def resource(**kw: Any) -> NeonResource:
    return NeonResource(database_url=dg.EnvVar("NEON_DATABASE_URL"), **kw)


def sql(dsn: str, *statements: str, params: Sequence[Any] | None = None) -> None:
    with psycopg.connect(dsn, autocommit=True) as con:
        for s in statements:
            con.execute(s, params)


def materialize(
    specs: Sequence[StreamSpec],
    neon: NeonResource,
    warehouse_resource: WarehouseResource,
    *,
    partition_key: str | None = None,
    partition_range: tuple[str, str] | None = None,
    raise_on_error: bool = True,
    tags: dict[str, str] | None = None,
    with_health: bool = False,
) -> dg.ExecuteInProcessResult:
    # A partition key or range means the by-day re-sync asset of a daily-partitioned stream;
    # otherwise every stream runs its incremental asset (what syncall runs).
    by_day = partition_key is not None or partition_range is not None
    assets = [build_by_day_asset(s) if by_day and s.partitioned else build_stream_asset(s) for s in specs]
    checks = [build_unique_key_check(s, by_day=by_day and s.partitioned) for s in specs]
    tags = dict(tags or {})
    if partition_range:
        tags["dagster/asset_partition_range_start"] = partition_range[0]
        tags["dagster/asset_partition_range_end"] = partition_range[1]
    return dg.materialize(
        [*assets, *checks, *([neon_health] if with_health else [])],
        resources={"neon": neon, "warehouse": warehouse_resource},
        partition_key=partition_key,
        tags=tags,
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=raise_on_error,
    )


def metadata(result: dg.ExecuteInProcessResult, name: str) -> dict[str, Any]:
    mats = [
        m for m in result.get_asset_materialization_events() if m.asset_key == dg.AssetKey(["raw_neon", name])
    ]
    assert mats, f"no materialization for {name}"
    return {k: getattr(v, "value", v) for k, v in mats[-1].materialization.metadata.items()}
