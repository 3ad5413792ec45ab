"""Benchmark: the Neon assets vs a raw ``COPY ... TO STDOUT`` of the same table, same run.

    .venv/bin/python -m bench.neon_extract.run             # 1,000,000 events (jsonb payloads)
    .venv/bin/python -m bench.neon_extract.run --smoke     # 20,000 events, seconds

A throwaway PostgreSQL cluster (tests/postgres_harness.py; CHITTY_TEST_POSTGRES_DSN if set) gets
an ``event_store`` table shaped like ChittyOS's (chitty_id, aggregate_id, aggregate_type,
event_type, event_data jsonb, event_hash, timestamp) spread over ten days. Each contender runs in
its own child process so that its peak RSS (``os.wait4`` ru_maxrss) is its own:

* ``raw_copy``: psycopg 3 ``COPY (SELECT * FROM event_store) TO STDOUT (FORMAT csv)``, every
  row read and dropped: the ceiling for getting bytes out of PostgreSQL in Python;
* ``asset_incremental``: the Neon asset for the table as an incremental stream (cursor
  ``timestamp``), first sync into a fresh DuckDB warehouse;
* ``resync_no_change``: the same asset again with nothing changed (reads only the look-back);
* ``asset_backfill``: the event store asset (daily partitions) backfilling all ten days in one
  single-run backfill into another fresh warehouse.

Writes bench/results/neon_extract.json (--smoke: bench/.work/neon_extract-smoke.json).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))  # the PostgreSQL harness lives with the tests

DAYS = 10
START = "2024-01-01"

GENERATE = """
CREATE TABLE event_store (
    chitty_id text PRIMARY KEY, aggregate_id text NOT NULL, aggregate_type text NOT NULL,
    event_type text NOT NULL, event_data jsonb NOT NULL, event_hash text NOT NULL,
    "timestamp" timestamptz NOT NULL);
INSERT INTO event_store
SELECT 'CT-01-1-CHI-' || lpad(i::text, 9, '0'),
       'agg-' || (i % 5000),
       (ARRAY['project', 'session', 'topic'])[1 + i % 3],
       (ARRAY['created', 'updated', 'registered', 'deleted'])[1 + i % 4],
       jsonb_build_object(
           'seq', i, 'actor', 'user-' || (i % 97), 'title', md5(i::text),
           'amount', round((i % 100000) / 100.0, 2), 'tags', jsonb_build_array('alpha', 'beta', i % 10),
           'nested', jsonb_build_object('ok', i % 2 = 0, 'note', repeat('x', 40 + i % 60))),
       md5('h' || i::text),
       timestamptz '2024-01-01 00:00:00+00' + make_interval(secs => (i - 1) * %(spacing)s)
FROM generate_series(1, %(rows)s) AS i;
CREATE INDEX ON event_store ("timestamp");
ANALYZE event_store;
"""


# -- children -----------------------------------------------------------------------------------
def child_raw_copy(dsn: str) -> dict[str, Any]:
    import psycopg

    rows = size = 0
    started = time.perf_counter()
    with (
        psycopg.connect(dsn) as con,
        con.cursor() as cur,
        cur.copy("COPY (SELECT * FROM event_store) TO STDOUT (FORMAT csv)") as copy,
    ):
        while data := copy.read():
            rows += 1
            size += len(data)
    return {"rows": rows, "bytes": size, "seconds": time.perf_counter() - started}


def child_idle() -> dict[str, Any]:
    """The framework alone (Dagster, DuckDB, Arrow, psycopg, our modules imported): the part of
    the assets' peak RSS that does not depend on the data."""
    import warnings

    warnings.simplefilter("ignore")
    import dagster  # noqa: F401

    import chitty_pipelines.platforms.neon.streams  # noqa: F401

    return {"seconds": 0.0}


def child_asset(mode: str, warehouse_path: str, chunk_rows: int) -> dict[str, Any]:
    import warnings

    warnings.simplefilter("ignore")
    import dagster as dg

    from chitty_pipelines.platforms.neon.assets import build_stream_asset
    from chitty_pipelines.platforms.neon.resource import NeonResource
    from chitty_pipelines.platforms.neon.stream_config import DEFAULT_STREAMS, StreamSpec
    from chitty_pipelines.warehouse.resource import WarehouseResource

    if mode == "backfill":
        spec = DEFAULT_STREAMS[0]
        end = time.strftime(
            "%Y-%m-%d", time.gmtime(time.mktime(time.strptime(START, "%Y-%m-%d")) + (DAYS - 1) * 86400)
        )
        tags = {"dagster/asset_partition_range_start": START, "dagster/asset_partition_range_end": end}
    else:
        spec = StreamSpec(name="events", schema="public", table="event_store", cursor="timestamp")
        tags = {}
    started = time.perf_counter()
    result = dg.materialize(
        [build_stream_asset(spec)],
        resources={
            "neon": NeonResource(database_url=dg.EnvVar("NEON_DATABASE_URL"), chunk_rows=chunk_rows),
            "warehouse": WarehouseResource(path=warehouse_path),
        },
        tags=tags,
        instance=dg.DagsterInstance.ephemeral(),
    )
    seconds = time.perf_counter() - started
    mats = result.get_asset_materialization_events()
    md = mats[-1].materialization.metadata
    value = {k: getattr(v, "value", v) for k, v in md.items()}
    return {
        "seconds": seconds,
        "rows_written": sum(
            int(getattr(m.materialization.metadata["rows_written"], "value", 0)) for m in mats[:1]
        ),
        "row_count": int(value["dagster/row_count"]),
        "bytes_read": int(value["bytes_read"]),
        "chunks": int(value["chunks"]),
        "high_water": str(value["high_water"]),
        "materializations": len(mats),
    }


# -- parent -------------------------------------------------------------------------------------
def run_child(args: list[str], env: dict[str, str]) -> dict[str, Any]:
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.neon_extract.run", "--child", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
    )
    out = proc.stdout.read() if proc.stdout else b""
    _, status, usage = os.wait4(proc.pid, 0)
    if status != 0:
        raise SystemExit(f"child {args} failed with status {status}")
    result = json.loads(out.decode().strip().splitlines()[-1])
    result["process_seconds"] = round(time.perf_counter() - started, 3)
    result["peak_rss_mb"] = round(usage.ru_maxrss / 1024, 1)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--rows", type=int, default=None)
    parser.add_argument("--chunk-rows", type=int, default=50_000)
    parser.add_argument("--out", default=None)
    parser.add_argument("--child", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        kind = args.child[0]
        dsn = os.environ["NEON_DATABASE_URL"]
        if kind == "raw_copy":
            result = child_raw_copy(dsn)
        elif kind == "idle":
            result = child_idle()
        else:
            result = child_asset(kind, args.child[1], int(args.child[2]))
        print(json.dumps(result))
        return

    import psycopg
    from postgres_harness import fresh_database, postgres_server

    rows = args.rows or (20_000 if args.smoke else 1_000_000)
    out = (
        Path(args.out)
        if args.out
        else (
            ROOT / "bench" / ".work" / "neon_extract-smoke.json"
            if args.smoke
            else ROOT / "bench" / "results" / "neon_extract.json"
        )
    )
    with (
        postgres_server() as server,
        fresh_database(server, "bench") as dsn,
        tempfile.TemporaryDirectory() as tmp,
    ):
        started = time.perf_counter()
        with psycopg.connect(dsn, autocommit=True) as con:
            con.execute(
                GENERATE.replace("%(spacing)s", repr(DAYS * 86400 / rows)).replace("%(rows)s", str(rows))
            )
            table_bytes = con.execute("SELECT pg_total_relation_size('event_store')").fetchone()[0]
            server_version = con.execute("SHOW server_version").fetchone()[0]
        generate_s = time.perf_counter() - started
        env = {**os.environ, "NEON_DATABASE_URL": dsn, "PYTHONPATH": str(ROOT)}
        chunk = str(args.chunk_rows)
        raw = run_child(["raw_copy"], env)
        idle = run_child(["idle"], env)
        inc = run_child(["incremental", f"{tmp}/inc.duckdb", chunk], env)
        resync = run_child(["incremental", f"{tmp}/inc.duckdb", chunk], env)
        backfill = run_child(["backfill", f"{tmp}/backfill.duckdb", chunk], env)
        warehouse_mb = round(Path(f"{tmp}/inc.duckdb").stat().st_size / 2**20, 1)

    def rate(n: int, seconds: float) -> float:
        return round(n / seconds, 1) if seconds else 0.0

    assert inc["row_count"] == rows and backfill["row_count"] == rows, (inc, backfill)
    report = {
        "benchmark": "neon_extract",
        "inputs": {
            "rows": rows,
            "days": DAYS,
            "table_bytes_on_disk": table_bytes,
            "postgres": server_version,
            "chunk_rows": args.chunk_rows,
            "lookback_seconds": 600,
            "smoke": args.smoke,
        },
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "loadavg": os.getloadavg()},
        "generate_seconds": round(generate_s, 2),
        "baseline_raw_copy": {
            **raw,
            "rows_per_s": rate(raw["rows"], raw["seconds"]),
            "mb_per_s": round(raw["bytes"] / 2**20 / raw["seconds"], 1),
        },
        "asset_incremental": {
            **inc,
            "rows_per_s": rate(inc["rows_written"], inc["seconds"]),
            "warehouse_mb": warehouse_mb,
        },
        "framework_idle_peak_rss_mb": idle["peak_rss_mb"],
        "resync_no_change": {**resync, "rows_per_s": rate(resync["rows_written"], resync["seconds"])},
        "asset_backfill_10_days": {
            **backfill,
            "rows_per_s": rate(backfill["row_count"], backfill["seconds"]),
        },
        "requests": "one PostgreSQL connection and one COPY per stream (per day for the backfill)",
    }
    report["ratios"] = {
        "asset_incremental_vs_raw_copy_time": round(inc["seconds"] / raw["seconds"], 2),
        "asset_backfill_vs_raw_copy_time": round(backfill["seconds"] / raw["seconds"], 2),
        "resync_vs_first_sync_time": round(resync["seconds"] / inc["seconds"], 3),
        "asset_incremental_vs_raw_copy_peak_rss": round(inc["peak_rss_mb"] / raw["peak_rss_mb"], 2),
        "asset_incremental_rss_above_framework_mb": round(inc["peak_rss_mb"] - idle["peak_rss_mb"], 1),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
