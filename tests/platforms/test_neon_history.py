"""Issue 11: Neon lands its whole history. One syncall on a 60-day event store holds every row;
the next syncall adds the new rows and a late commit inside the look-back without duplicates;
``backfill --from --to`` (the neon_partitioned job with range tags) still re-syncs a range and
leaves the incremental mark alone."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import dagster as dg
import psycopg
import pytest
from neon_helpers import neon_database, resource, sql

from chitty_pipelines.ops.jobs import build_jobs
from chitty_pipelines.platforms.neon import assets as neon_platform

DAYS = 60
PER_DAY = 835  # 60 x 835 + 1 = 50,101 rows: the size of the event store in the issue
DDL = """CREATE TABLE public.event_store (
    chitty_id text PRIMARY KEY, aggregate_id text, aggregate_type text, event_type text,
    event_data jsonb, event_hash text, "timestamp" timestamptz NOT NULL)"""
# Evenly spread over the 60 days up to the start of today (UTC), plus one event this morning.
FILL = """
INSERT INTO event_store
SELECT 'ev-' || lpad(i::text, 6, '0'), 'agg-' || (i %% 50), 'project', 'created',
       jsonb_build_object('seq', i, 'note', repeat('x', i %% 40)), md5(i::text),
       %(first)s::timestamptz + make_interval(secs => (i - 1) * 86400.0 / %(per_day)s)
FROM generate_series(1, %(n)s) AS i
"""
TODAY = "INSERT INTO event_store VALUES ('ev-today', 'agg-0', 'project', 'created', '{}', 'h', %(today)s)"


def fill(dsn: str, first: datetime, per_day: int, n: int, today: datetime) -> None:
    sql(dsn, DDL)
    sql(dsn, FILL, TODAY, params={"first": first, "per_day": per_day, "n": n, "today": today})


@pytest.fixture
def neon_dsn(postgres_dsn, monkeypatch):
    yield from neon_database(postgres_dsn, monkeypatch)


@pytest.fixture
def defs(warehouse_resource) -> dg.Definitions:
    # chunk_rows=10_000: the first sync is six chunks (one transaction each), not one.
    return dg.Definitions.merge(
        dg.Definitions(
            jobs=build_jobs(),
            resources={"warehouse": warehouse_resource, "neon": resource(chunk_rows=10_000)},
        ),
        dg.Definitions(assets=neon_platform.NEON_ASSETS, asset_checks=neon_platform.NEON_CHECKS),
    )


def run(defs: dg.Definitions, name: str, tags: dict[str, str] | None = None) -> dg.ExecuteInProcessResult:
    result = defs.resolve_job_def(name).execute_in_process(
        tags=tags or {}, instance=dg.DagsterInstance.ephemeral()
    )
    assert result.success
    assert all(e.passed for e in result.get_asset_check_evaluations())
    return result


def event_store_md(result: dg.ExecuteInProcessResult) -> dict:
    (mat,) = [
        m
        for m in result.get_asset_materialization_events()
        if m.asset_key.path[-2:] in (["raw_neon", "event_store"], ["raw_neon", "event_store_by_day"])
    ][-1:]
    return {k: getattr(v, "value", v) for k, v in mat.materialization.metadata.items()}


def counts(warehouse) -> tuple[int, int]:
    with warehouse.connect() as con:
        ((total, distinct),) = con.execute(
            "SELECT count(*), count(DISTINCT chitty_id) FROM raw_neon.event_store"
        ).fetchall()
    return total, distinct


def pg_scalar(dsn: str, query: str, params: list | None = None):
    with psycopg.connect(dsn) as con:
        return con.execute(query, params).fetchone()[0]


def test_syncall_lands_the_whole_history_then_increments_and_backfills(neon_dsn, warehouse, defs):
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    first = today - timedelta(days=DAYS)
    fill(neon_dsn, first, PER_DAY, DAYS * PER_DAY, today + timedelta(minutes=5))
    total = pg_scalar(neon_dsn, "SELECT count(*) FROM event_store")
    assert total == 50_101

    # 1. One syncall: every row, exactly once (not only today's partition).
    md = event_store_md(run(defs, "syncall"))
    assert counts(warehouse) == (total, total)
    assert md["rows_written"] == total and md["dagster/row_count"] == total and md["chunks"] == 6
    high = warehouse.cursors("neon", "event_store")["high_water"]
    assert datetime.fromisoformat(high) == today + timedelta(minutes=5)

    # 2. New rows, a late commit 5 minutes below the mark (inside the 10-minute look-back) and an
    # edit of a row inside the look-back; the next syncall lands all of it without duplicates.
    mark = today + timedelta(minutes=5)
    for i in range(100):
        sql(
            neon_dsn,
            "INSERT INTO event_store VALUES (%s, 'agg-new', 'project', 'created', '{}', 'h', %s)",
            params=[f"new-{i:03d}", mark + timedelta(seconds=i + 1)],
        )
    sql(
        neon_dsn,
        "INSERT INTO event_store VALUES ('late', 'agg-late', 'project', 'created', '{}', 'h', %s)",
        params=[mark - timedelta(minutes=5)],
    )
    sql(neon_dsn, """UPDATE event_store SET event_data = '{"edited": true}' WHERE chitty_id = 'ev-today'""")
    overlap = pg_scalar(
        neon_dsn, 'SELECT count(*) FROM event_store WHERE "timestamp" >= %s', [mark - timedelta(minutes=10)]
    )
    md = event_store_md(run(defs, "syncall"))
    assert counts(warehouse) == (total + 101, total + 101)
    assert md["rows_written"] == overlap  # the new rows plus the look-back, not the history again
    with warehouse.connect() as con:
        (edited,) = con.execute(
            "SELECT event_data FROM raw_neon.event_store WHERE chitty_id = 'ev-today'"
        ).fetchone()
        (late,) = con.execute("SELECT count(*) FROM raw_neon.event_store WHERE chitty_id = 'late'").fetchone()
    assert json.loads(edited) == {"edited": True} and late == 1
    mark_after = warehouse.cursors("neon", "event_store")["high_water"]
    assert datetime.fromisoformat(mark_after) == mark + timedelta(seconds=100)

    # 3. backfill --from --to: a deletion and an edit upstream inside the range are re-synced; the
    # incremental mark does not move.
    start, end = today - timedelta(days=30), today - timedelta(days=28)
    victim = pg_scalar(
        neon_dsn,
        'SELECT min(chitty_id) FROM event_store WHERE "timestamp" >= %s',
        [start + timedelta(hours=1)],
    )
    sql(neon_dsn, "DELETE FROM event_store WHERE chitty_id = %s", params=[victim])
    sql(
        neon_dsn,
        'UPDATE event_store SET event_data = \'{"re": "synced"}\' '
        'WHERE "timestamp" >= %s AND "timestamp" < %s',
        params=[start + timedelta(days=1), start + timedelta(days=2)],
    )
    tags = {
        "dagster/asset_partition_range_start": start.strftime("%Y-%m-%d"),
        "dagster/asset_partition_range_end": end.strftime("%Y-%m-%d"),
    }
    md = event_store_md(run(defs, "neon_partitioned", tags))
    in_range = pg_scalar(
        neon_dsn,
        'SELECT count(*) FROM event_store WHERE "timestamp" >= %s AND "timestamp" < %s',
        [start - timedelta(minutes=10), end + timedelta(days=1)],
    )
    assert md["rows_written"] == in_range
    assert counts(warehouse) == (total + 100, total + 100)
    with warehouse.connect() as con:
        (resynced,) = con.execute(
            "SELECT count(*) FROM raw_neon.event_store WHERE event_data->>'re' = 'synced'"
        ).fetchone()
    assert resynced == PER_DAY
    assert warehouse.cursors("neon", "event_store")["high_water"] == mark_after

    # 4. syncall after the backfill: still exact.
    run(defs, "syncall")
    assert counts(warehouse) == (total + 100, total + 100)


def test_backfill_before_the_first_syncall_does_not_cut_history(neon_dsn, warehouse, defs):
    """A range re-sync into an empty warehouse must not leave a cursor that skips older days."""
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    fill(neon_dsn, today - timedelta(days=10), 50, 500, today)
    day = (today - timedelta(days=3)).strftime("%Y-%m-%d")
    run(
        defs,
        "neon_partitioned",
        {"dagster/asset_partition_range_start": day, "dagster/asset_partition_range_end": day},
    )
    assert counts(warehouse)[0] == 50
    md = event_store_md(run(defs, "syncall"))
    assert counts(warehouse) == (501, 501)
    assert md["rows_written"] == 501  # upserts (the table was not empty): no duplicates
