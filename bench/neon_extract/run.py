"""Benchmark: the Neon event store into the warehouse vs a raw ``COPY ... TO STDOUT`` of the same
table, same invocation.

    .venv/bin/python -m bench.neon_extract.run             # 1,000,000 events (jsonb payloads)
    .venv/bin/python -m bench.neon_extract.run --smoke     # 20,000 events, seconds

A throwaway PostgreSQL cluster (tests/postgres_harness.py; CHITTY_TEST_POSTGRES_DSN if set) gets
an ``event_store`` table shaped like ChittyOS's (chitty_id, aggregate_id, aggregate_type,
event_type, event_data jsonb of ~300 bytes, event_hash, timestamp) spread over ten days. Each
contender runs in its own child process so that its peak RSS (``os.wait4`` ru_maxrss) is its own;
the raw baselines and the asset alternate ``--repeat`` times (best and median reported, the
machine is shared):

* ``raw_copy``: psycopg 3 ``COPY (SELECT * FROM event_store) TO STDOUT (FORMAT csv)``, every
  row read and dropped (the issue's baseline); ``raw_copy_binary``: the same in FORMAT BINARY;
* ``asset_first_sync``: the ``raw_neon/event_store`` asset (incremental; what syncall runs) into
  a fresh DuckDB warehouse, timed around ``dg.materialize`` (imports excluded);
* ``resync_no_change``: the same asset again with nothing changed (reads only the look-back);
* ``cli_syncall``: ``chitty-sync syncall`` as a subprocess into a fresh CHITTY_HOME with only
  Neon configured: the user's command end to end (interpreter start, imports, every platform's
  asset, the unified tables and checks);
* ``cli_backfill``: ``chitty-sync backfill --from 2024-01-01 --to 2024-01-10`` into another
  fresh CHITTY_HOME (the ``raw_neon/event_store_by_day`` re-sync asset, one run).

Writes bench/results/neon_extract.json (--smoke: bench/.work/neon_extract-smoke.json).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
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


COUNT = """
import duckdb, json, sys
with duckdb.connect(sys.argv[1], read_only=True) as con:
    print(json.dumps(con.execute(
        "SELECT count(*), count(DISTINCT chitty_id) FROM raw_neon.event_store").fetchall()[0]))
"""


# -- children -----------------------------------------------------------------------------------
def child_raw_copy(dsn: str, fmt: str) -> dict[str, Any]:
    import psycopg

    rows = size = 0
    started = time.perf_counter()
    with (
        psycopg.connect(dsn) as con,
        con.cursor() as cur,
        cur.copy(f"COPY (SELECT * FROM event_store) TO STDOUT (FORMAT {fmt})") as copy,
    ):
        while data := copy.read():
            rows += 1
            size += len(data)
    if fmt == "binary":
        rows -= 1  # the binary trailer arrives as a message of its own
    return {"rows": rows, "bytes": size, "seconds": time.perf_counter() - started}


def child_idle() -> dict[str, Any]:
    """The framework alone (Dagster, DuckDB, Arrow, psycopg, ADBC, our modules imported): the
    part of the asset's peak RSS that does not depend on the data."""
    import warnings

    warnings.simplefilter("ignore")
    import adbc_driver_postgresql.dbapi  # noqa: F401
    import dagster  # noqa: F401

    import chitty_pipelines.platforms.neon.streams  # noqa: F401

    return {"seconds": 0.0}


def child_asset(warehouse_path: str, chunk_rows: int) -> dict[str, Any]:
    import warnings

    warnings.simplefilter("ignore")
    import dagster as dg

    from chitty_pipelines.platforms.neon.assets import build_stream_asset
    from chitty_pipelines.platforms.neon.resource import NeonResource
    from chitty_pipelines.platforms.neon.stream_config import DEFAULT_STREAMS
    from chitty_pipelines.warehouse.resource import WarehouseResource

    started = time.perf_counter()
    result = dg.materialize(
        [build_stream_asset(DEFAULT_STREAMS[0])],  # raw_neon/event_store, as syncall runs it
        resources={
            "neon": NeonResource(database_url=dg.EnvVar("NEON_DATABASE_URL"), chunk_rows=chunk_rows),
            "warehouse": WarehouseResource(path=warehouse_path),
        },
        instance=dg.DagsterInstance.ephemeral(),
    )
    seconds = time.perf_counter() - started
    md = result.get_asset_materialization_events()[-1].materialization.metadata
    value = {k: getattr(v, "value", v) for k, v in md.items()}
    return {
        "seconds": seconds,
        "rows_written": int(value["rows_written"]),
        "row_count": int(value["dagster/row_count"]),
        "bytes_read": int(value["bytes_read"]),
        "chunks": int(value["chunks"]),
        "high_water": str(value["high_water"]),
    }


# -- parent -------------------------------------------------------------------------------------
def _wait(proc: subprocess.Popen[bytes], started: float, what: Any) -> tuple[bytes, dict[str, Any]]:
    out = proc.stdout.read() if proc.stdout else b""
    _, status, usage = os.wait4(proc.pid, 0)
    if status != 0:
        err = proc.stderr.read().decode(errors="replace")[-3000:] if proc.stderr else ""
        raise SystemExit(f"{what} failed with status {status}\n{err}")
    return out, {
        "process_seconds": round(time.perf_counter() - started, 3),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),  # the largest process of the tree
    }


def run_child(args: list[str], env: dict[str, str]) -> dict[str, Any]:
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.neon_extract.run", "--child", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
    )
    out, measured = _wait(proc, started, args)
    return {**json.loads(out.decode().strip().splitlines()[-1]), **measured}


def run_cli(args: list[str], env: dict[str, str], home: Path) -> dict[str, Any]:
    """``chitty-sync <args>`` end to end in a fresh CHITTY_HOME; returns its time, peak RSS and
    the event store's row count afterwards."""
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    # HOME too: the local platforms must not find this machine's own AI-tool files.
    cli_env = {**env, "CHITTY_HOME": str(home), "HOME": str(home)}
    cli_env.pop("DAGSTER_HOME", None)
    cli_env.pop("CHITTY_WAREHOUSE_PATH", None)
    started = time.perf_counter()
    proc = subprocess.Popen(
        [str(Path(sys.executable).with_name("chitty-sync")), *args],
        cwd=home,
        env=cli_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    _, measured = _wait(proc, started, ["chitty-sync", *args])
    # Counted in a child: DuckDB imported here would raise this process's RSS, which Linux
    # carries into every later child's ru_maxrss (the high-water mark survives fork + exec).
    count = subprocess.run(
        [sys.executable, "-c", COUNT, str(home / "warehouse.duckdb")], check=True, capture_output=True
    )
    rows, distinct = json.loads(count.stdout)
    return {"command": " ".join(["chitty-sync", *args]), "seconds": measured["process_seconds"],
            "row_count": rows, "distinct_keys": distinct, **measured}  # fmt: skip


def summary(runs: list[dict[str, Any]], rows: int) -> dict[str, Any]:
    times = [r["seconds"] for r in runs]
    best, median = min(times), statistics.median(times)
    return {
        "runs": len(runs),
        "seconds_best": round(best, 3),
        "seconds_median": round(median, 3),
        "rows_per_s_best": round(rows / best, 1),
        "rows_per_s_median": round(rows / median, 1),
        "peak_rss_mb_max": max(r["peak_rss_mb"] for r in runs),
        "last": runs[-1],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--rows", type=int, default=None)
    parser.add_argument("--chunk-rows", type=int, default=122_880)
    parser.add_argument("--repeat", type=int, default=3, help="runs of the baselines, asset and syncall")
    parser.add_argument("--no-cli", action="store_true", help="skip the chitty-sync subprocess runs")
    parser.add_argument("--out", default=None)
    parser.add_argument("--child", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        kind = args.child[0]
        dsn = os.environ["NEON_DATABASE_URL"]
        if kind == "raw_copy":
            result = child_raw_copy(dsn, args.child[1])
        elif kind == "idle":
            result = child_idle()
        else:
            result = child_asset(args.child[1], int(args.child[2]))
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
    last_day = time.strftime(
        "%Y-%m-%d", time.gmtime(time.mktime(time.strptime(START, "%Y-%m-%d")) + (DAYS - 1) * 86400)
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
            payload = con.execute("SELECT avg(octet_length(event_data::text)) FROM event_store").fetchone()[0]
        generate_s = time.perf_counter() - started
        env = {**os.environ, "NEON_DATABASE_URL": dsn, "PYTHONPATH": str(ROOT), "NEON_PARTITION_START": START}
        chunk = str(args.chunk_rows)
        raw, raw_bin, first, cli = [], [], [], []
        run_child(["raw_copy", "csv"], env)  # warms the page cache: every contender reads memory
        for i in range(args.repeat):
            raw.append(run_child(["raw_copy", "csv"], env))
            raw_bin.append(run_child(["raw_copy", "binary"], env))
            first.append(run_child(["asset", f"{tmp}/first{i}.duckdb", chunk], env))
            if not args.no_cli:
                cli.append(run_cli(["syncall"], env, Path(tmp) / f"home-syncall{i}"))
        idle = run_child(["idle"], env)
        resync = run_child(["asset", f"{tmp}/first0.duckdb", chunk], env)
        backfill = (
            None
            if args.no_cli
            else run_cli(["backfill", "--from", START, "--to", last_day], env, Path(tmp) / "home-backfill")
        )
        warehouse_mb = round(Path(f"{tmp}/first0.duckdb").stat().st_size / 2**20, 1)

    assert all(r["rows"] == rows for r in raw + raw_bin), (raw, raw_bin)
    assert all(f["row_count"] == rows == f["rows_written"] for f in first), first
    assert all(c["row_count"] == c["distinct_keys"] == rows for c in cli), cli
    assert backfill is None or backfill["row_count"] == backfill["distinct_keys"] == rows, backfill
    baseline, binary, asset = summary(raw, rows), summary(raw_bin, rows), summary(first, rows)
    report: dict[str, Any] = {
        "benchmark": "neon_extract",
        "inputs": {
            "rows": rows,
            "days": DAYS,
            "table_bytes_on_disk": table_bytes,
            "avg_event_data_bytes": round(float(payload), 1),
            "postgres": server_version,
            "chunk_rows": args.chunk_rows,
            "lookback_seconds": 600,
            "repeat": args.repeat,
            "smoke": args.smoke,
        },
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "loadavg": os.getloadavg()},
        "generate_seconds": round(generate_s, 2),
        "baseline_raw_copy_csv": baseline,
        "raw_copy_binary": binary,
        "asset_first_sync": {**asset, "warehouse_mb": warehouse_mb},
        "framework_idle_peak_rss_mb": idle["peak_rss_mb"],
        "resync_no_change": resync,
        "requests": "one catalog query and one COPY (FORMAT BINARY) per stream (per day for the backfill)",
    }
    ratios = {
        # rows/s of the asset over rows/s of raw COPY: the number (target >= 0.6).
        "asset_vs_raw_copy_rows_per_s_median": round(
            asset["rows_per_s_median"] / baseline["rows_per_s_median"], 3
        ),
        "asset_vs_raw_copy_rows_per_s_best": round(asset["rows_per_s_best"] / baseline["rows_per_s_best"], 3),
        "asset_vs_raw_copy_binary_rows_per_s_median": round(
            asset["rows_per_s_median"] / binary["rows_per_s_median"], 3
        ),
        "resync_vs_first_sync_time": round(resync["seconds"] / asset["seconds_median"], 3),
        "asset_rss_above_framework_mb": round(asset["peak_rss_mb_max"] - idle["peak_rss_mb"], 1),
    }
    if cli:
        report["cli_syncall"] = summary(cli, rows)
        ratios["cli_syncall_vs_raw_copy_rows_per_s_median"] = round(
            report["cli_syncall"]["rows_per_s_median"] / baseline["rows_per_s_median"], 3
        )
        ratios["cli_syncall_vs_raw_copy_rows_per_s_best"] = round(
            report["cli_syncall"]["rows_per_s_best"] / baseline["rows_per_s_best"], 3
        )
    if backfill:
        report["cli_backfill_10_days"] = {**backfill, "rows_per_s": round(rows / backfill["seconds"], 1)}
        ratios["cli_backfill_vs_raw_copy_rows_per_s_median"] = round(
            rows / backfill["seconds"] / baseline["rows_per_s_median"], 3
        )
    report["ratios"] = ratios
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
