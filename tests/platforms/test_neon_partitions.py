"""The event store's re-sync asset (raw_neon/event_store_by_day): daily partitions, single-run
range backfills, delete-then-merge per day, crash in the middle of a range, and the jobs the CLI
runs. (Its incremental asset, which syncall runs, is covered in test_neon_history.py.)"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime

import dagster as dg
import pytest
from neon_helpers import materialize, metadata, neon_database, resource, sql

from chitty_pipelines.ops.jobs import PARTITIONED_JOBS, build_jobs
from chitty_pipelines.platforms.neon import assets as neon_platform
from chitty_pipelines.platforms.neon import streams as neon_sync
from chitty_pipelines.platforms.neon.stream_config import DEFAULT_STREAMS

EVENT_STORE = DEFAULT_STREAMS[0]
DDL = """CREATE TABLE public.event_store (
    chitty_id text PRIMARY KEY, aggregate_id text, aggregate_type text, event_type text,
    event_data jsonb, event_hash text, "timestamp" timestamptz NOT NULL)"""


@pytest.fixture
def neon_dsn(postgres_dsn, monkeypatch):
    yield from neon_database(postgres_dsn, monkeypatch)


def add_event(dsn: str, cid: str, at: datetime, data: dict | None = None) -> None:
    sql(
        dsn,
        "INSERT INTO event_store VALUES (%s, %s, 'project', 'created', %s, %s, %s)",
        params=[cid, f"agg-{cid}", json.dumps(data or {"n": cid}), f"h-{cid}", at],
    )


@pytest.fixture
def events(neon_dsn):
    """Ten events per day, 2024-01-01 .. 2024-01-05 (hours 0..9), plus one at 23:55 on Jan 1."""
    sql(neon_dsn, DDL)
    for d in range(1, 6):
        for h in range(10):
            add_event(neon_dsn, f"e{d}-{h}", datetime(2024, 1, d, h, tzinfo=UTC))
    add_event(neon_dsn, "late-jan1", datetime(2024, 1, 1, 23, 55, tzinfo=UTC))
    return neon_dsn


def stored(warehouse) -> dict[str, dict]:
    with warehouse.connect() as con:
        rows = con.execute("SELECT chitty_id, event_data FROM raw_neon.event_store").fetchall()
    return {cid: json.loads(data) for cid, data in rows}


def test_backfill_range_then_repartition_is_idempotent(events, warehouse, warehouse_resource):
    result = materialize(
        [EVENT_STORE], resource(), warehouse_resource, partition_range=("2024-01-02", "2024-01-04")
    )
    md = metadata(result, "event_store_by_day")
    expected = {f"e{d}-{h}" for d in (2, 3, 4) for h in range(10)} | {"late-jan1"}  # 10 min look-back
    assert set(stored(warehouse)) == expected
    assert md["window"] == "[2024-01-02T00:00:00+00:00, 2024-01-05T00:00:00+00:00)"
    assert md["rows_written"] == 31 and md["dagster/row_count"] == 31
    # Dagster copies the one result onto each of the 3 partitions: the metadata says the counts
    # are the run's over all of them.
    assert md["run_partitions"] == 3
    assert md["high_water"] == "2024-01-04 09:00:00+00:00"
    assert len(result.get_asset_materialization_events()) == 3  # one per partition of the range

    # Upstream changes on Jan 3: a deletion, an edit, and a late event.
    sql(events, "DELETE FROM event_store WHERE chitty_id = 'e3-1'")
    sql(events, """UPDATE event_store SET event_data = '{"n": "edited"}' WHERE chitty_id = 'e3-2'""")
    add_event(events, "e3-late", datetime(2024, 1, 3, 22, tzinfo=UTC))
    for _ in range(2):  # re-running a partition is idempotent
        again = materialize([EVENT_STORE], resource(), warehouse_resource, partition_key="2024-01-03")
        now = stored(warehouse)
        assert set(now) == (expected - {"e3-1"}) | {"e3-late"}
        assert now["e3-2"] == {"n": "edited"} and now["e4-0"] == {"n": "e4-0"}
        assert metadata(again, "event_store_by_day")["dagster/row_count"] == 31
        assert metadata(again, "event_store_by_day")["run_partitions"] == 1
    checks = {e.check_name: e.passed for e in again.get_asset_check_evaluations()}
    assert checks == {"unique_primary_key": True}


def test_crash_mid_range_keeps_finished_days_and_old_state(
    events, warehouse, warehouse_resource, monkeypatch
):
    materialize([EVENT_STORE], resource(), warehouse_resource, partition_range=("2024-01-02", "2024-01-03"))
    sql(events, "DELETE FROM event_store WHERE chitty_id IN ('e2-0', 'e3-0')")
    real = neon_sync.ChunkConverter.__call__
    calls = {"n": 0}

    def crash_on_sixth(self, data):
        calls["n"] += 1
        if calls["n"] == 6:
            raise RuntimeError("simulated crash between chunks")
        return real(self, data)

    monkeypatch.setattr(neon_sync.ChunkConverter, "__call__", crash_on_sixth)
    # chunk_rows=3: Jan 2 is 10 rows (4 chunks, committed), Jan 3 dies in its second chunk.
    failed = materialize(
        [EVENT_STORE],
        resource(chunk_rows=3),
        warehouse_resource,
        partition_range=("2024-01-02", "2024-01-03"),
        raise_on_error=False,
    )
    assert not failed.success
    now = set(stored(warehouse))
    assert "e2-0" not in now  # Jan 2 finished: its delete-then-merge committed
    assert "e3-0" in now and len([c for c in now if c.startswith("e3-")]) == 10  # Jan 3 rolled back

    monkeypatch.setattr(neon_sync.ChunkConverter, "__call__", real)
    materialize(
        [EVENT_STORE],
        resource(chunk_rows=3),
        warehouse_resource,
        partition_range=("2024-01-02", "2024-01-03"),
    )
    expected = {f"e{d}-{h}" for d in (2, 3) for h in range(10)} - {"e2-0", "e3-0"} | {"late-jan1"}
    assert set(stored(warehouse)) == expected


def test_jobs_split_partitioned_assets_and_backfill_through_the_job(events, warehouse, warehouse_resource):
    defs = dg.Definitions.merge(
        dg.Definitions(jobs=build_jobs(), resources={"warehouse": warehouse_resource, "neon": resource()}),
        dg.Definitions(assets=neon_platform.NEON_ASSETS, asset_checks=neon_platform.NEON_CHECKS),
    )
    syncall = defs.resolve_job_def("syncall")
    # syncall runs the event store's incremental asset; only the by-day re-sync asset is left out.
    assert dg.AssetKey(["raw_neon", "event_store"]) in syncall.asset_layer.executable_asset_keys
    assert dg.AssetKey(["raw_neon", "event_store_by_day"]) not in syncall.asset_layer.executable_asset_keys
    assert dg.AssetKey(["raw_neon", "evidence_ledger"]) in syncall.asset_layer.executable_asset_keys
    assert PARTITIONED_JOBS == ["neon_partitioned"]
    job = defs.resolve_job_def("neon_partitioned")
    assert job.asset_layer.executable_asset_keys == {dg.AssetKey(["raw_neon", "event_store_by_day"])}
    assert job.partitions_def.get_last_partition_key() == (datetime.now(UTC)).strftime("%Y-%m-%d")

    # How the CLI backfills: the partitioned job with the range tags, one run.
    result = job.execute_in_process(
        tags={
            "dagster/asset_partition_range_start": "2024-01-04",
            "dagster/asset_partition_range_end": "2024-01-05",
        },
        instance=dg.DagsterInstance.ephemeral(),
    )
    assert result.success
    assert set(stored(warehouse)) == {f"e{d}-{h}" for d in (4, 5) for h in range(10)}
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks == {"unique_primary_key": True}
    # The re-sync did not move the incremental mark: syncall afterwards still lands everything.
    assert warehouse.cursors("neon", "event_store")["high_water"] is None
    full = syncall.execute_in_process(instance=dg.DagsterInstance.ephemeral())
    assert full.success and len(stored(warehouse)) == 51
    checks = {e.check_name: e.passed for e in full.get_asset_check_evaluations()}
    assert checks == {"neon_health": True, "unique_primary_key": True}


def test_window_bounds_respect_the_lookback_only_on_the_first_day(events, warehouse, warehouse_resource):
    add_event(events, "jan2-2355", datetime(2024, 1, 2, 23, 55, tzinfo=UTC))
    spec = replace(EVENT_STORE, lookback_seconds=0)
    materialize([spec], resource(), warehouse_resource, partition_range=("2024-01-02", "2024-01-03"))
    ids = set(stored(warehouse))
    assert "late-jan1" not in ids and "jan2-2355" in ids and len(ids) == 21
