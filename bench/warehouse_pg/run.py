"""Benchmark: the PostgreSQL warehouse (CHITTY_WAREHOUSE_URL) against the DuckDB one and against a
raw COPY, in one invocation (issue 13).

    .venv/bin/python -m bench.warehouse_pg.run                     # 500 MB corpus, 1M events
    .venv/bin/python -m bench.warehouse_pg.run --size-mb 20 --rows 200000   # a quick run
    .venv/bin/python -m bench.warehouse_pg.run --smoke                      # 3 MB, 20,000 events

* ``syncall``: ``chitty-sync syncall`` (a subprocess, the user's command) over the generated
  Claude Code corpus of bench/syncall_e2e (bench/.work, reused when present) into a fresh DuckDB
  CHITTY_HOME, then into a fresh PostgreSQL database; target: PostgreSQL <= 2x DuckDB wall time.
  Token totals of raw_local.claude_sessions must be equal in both.
* ``neon``: the ``raw_neon/event_store`` asset (bench/neon_extract's generated event store) into
  the PostgreSQL warehouse vs a raw binary ``COPY ... TO STDOUT`` of the same table;
  target: asset rows/s >= 0.5x raw COPY rows/s (the DuckDB warehouse is timed too, for scale).

One throwaway cluster (tests/postgres_harness.py; CHITTY_TEST_POSTGRES_DSN when set) holds the
source event store and the warehouse databases. Writes bench/results/warehouse_pg.json.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

from bench.local_ingest.measure import run_measured  # noqa: E402
from bench.local_ingest.run import KEYS, code_version, corpus_for  # noqa: E402
from bench.neon_extract.run import GENERATE, child_raw_copy  # noqa: E402
from bench.syncall_e2e.run import CHITTY_SYNC, syncall_env  # noqa: E402


def tokens(home: Path, url: str | None) -> dict[str, int]:
    from chitty_pipelines.warehouse import Warehouse

    wh = Warehouse(home / "warehouse.duckdb", url=url)
    sums = ", ".join(f"CAST(coalesce(sum({k}), 0) AS BIGINT) AS {k}" for k in KEYS)
    row = wh.query(f"SELECT count(*), {sums} FROM raw_local.claude_sessions").iloc[0].tolist()
    return dict(zip(["sessions", *KEYS], (int(v) for v in row), strict=True))


def syncall(work: Path, corpus: Path, url: str | None) -> dict[str, Any]:
    cycle = Path(tempfile.mkdtemp(prefix="warehouse_pg_", dir=work))
    env = syncall_env(cycle, corpus)
    if url:
        env["CHITTY_WAREHOUSE_URL"] = url
    m = run_measured([str(CHITTY_SYNC), "syncall"], env=env, cwd=ROOT)
    out = {"ok": m.returncode == 0, "wall_s": round(m.wall_s, 3), "peak_rss_mb": round(m.peak_rss_mb, 1)}
    if m.returncode != 0:
        tail = m.stderr[-2000:]
        out["stderr_tail"] = tail.decode(errors="replace") if isinstance(tail, bytes) else tail
        return out
    out["tokens"] = tokens(Path(env["CHITTY_HOME"]), url)
    return out


def neon_asset(source_dsn: str, warehouse: dict[str, Any]) -> dict[str, Any]:
    import warnings

    warnings.simplefilter("ignore")
    import dagster as dg

    from chitty_pipelines.platforms.neon.assets import build_stream_asset
    from chitty_pipelines.platforms.neon.resource import NeonResource
    from chitty_pipelines.platforms.neon.stream_config import DEFAULT_STREAMS
    from chitty_pipelines.warehouse.resource import WarehouseResource

    instance = dg.DagsterInstance.ephemeral()  # not timed (~2 s of Dagster set-up)
    started = time.perf_counter()
    result = dg.materialize(
        [build_stream_asset(DEFAULT_STREAMS[0])],
        resources={
            "neon": NeonResource(database_url=source_dsn),
            "warehouse": WarehouseResource(**warehouse),
        },
        instance=instance,
    )
    seconds = time.perf_counter() - started
    md = result.get_asset_materialization_events()[-1].materialization.metadata
    return {"seconds": round(seconds, 3), "rows_written": int(md["rows_written"].value)}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size-mb", type=float, default=500.0)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--work", type=Path, default=ROOT / "bench" / ".work")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--smoke", action="store_true", help="3 MB corpus, 20,000 events, seconds")
    a = ap.parse_args(argv)
    if a.smoke:
        a.size_mb, a.rows = 3.0, 20_000
    a.out = a.out or (
        a.work / "warehouse_pg.smoke.json" if a.smoke else ROOT / "bench" / "results" / "warehouse_pg.json"
    )
    import psycopg
    from postgres_harness import fresh_database, postgres_server

    a.work.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {
        "bench": "warehouse_pg",
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "loadavg": os.getloadavg()},
        "code": code_version(),
        "inputs": {"size_mb": a.size_mb, "neon_rows": a.rows, "seed": a.seed},
    }
    corpus, manifest, _ = corpus_for(a.work, a.size_mb, a.seed, (0.05, 0.03, 1))
    result["inputs"]["corpus_bytes"] = manifest.get("bytes")
    with postgres_server() as dsn:
        # --- syncall: DuckDB, then PostgreSQL
        duck = syncall(a.work, corpus, None)
        with fresh_database(dsn, prefix="bench_wh") as url:
            pg = syncall(a.work, corpus, url)
        ok = duck["ok"] and pg["ok"]
        result["syncall"] = {
            "duckdb": duck,
            "postgres": pg,
            "ratio_pg_over_duckdb": round(pg["wall_s"] / duck["wall_s"], 2) if ok else None,
            "target": "<= 2.0",
            "tokens_equal": ok and duck["tokens"] == pg["tokens"],
        }
        # --- the Neon event store
        with fresh_database(dsn, prefix="bench_src") as src, fresh_database(dsn, prefix="bench_wh2") as url:
            spacing = DAYS_SECONDS / a.rows
            with psycopg.connect(src, autocommit=True) as con:
                con.execute(GENERATE.replace("%(spacing)s", repr(spacing)).replace("%(rows)s", str(a.rows)))
            raw = child_raw_copy(src, "binary")
            raw_csv = child_raw_copy(src, "csv")
            to_pg = neon_asset(src, {"path": str(a.work / "unused.duckdb"), "url": url})
            duck_dir = Path(tempfile.mkdtemp(prefix="warehouse_pg_neon_", dir=a.work))
            to_duck = neon_asset(src, {"path": str(duck_dir / "warehouse.duckdb")})
        raw_rate = raw["rows"] / raw["seconds"]
        csv_rate = raw_csv["rows"] / raw_csv["seconds"]
        pg_rate = to_pg["rows_written"] / to_pg["seconds"]
        result["neon"] = {
            "raw_copy_binary": {**raw, "rows_per_s": round(raw_rate)},
            "raw_copy_csv": {**raw_csv, "rows_per_s": round(csv_rate)},
            "asset_into_postgres": {**to_pg, "rows_per_s": round(pg_rate)},
            "asset_into_duckdb": {
                **to_duck,
                "rows_per_s": round(to_duck["rows_written"] / to_duck["seconds"]),
            },
            "ratio_pg_asset_over_raw_copy": round(pg_rate / raw_rate, 2),
            "ratio_pg_asset_over_raw_copy_csv": round(pg_rate / csv_rate, 2),
            "ratio_duckdb_asset_over_raw_copy": round(
                to_duck["rows_written"] / to_duck["seconds"] / raw_rate, 2
            ),
            "target": ">= 0.5",
        }
    result["machine"]["loadavg_after"] = os.getloadavg()
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2) + b"\n")
    print(
        orjson.dumps(
            {k: result[k] for k in ("inputs", "syncall", "neon")}, option=orjson.OPT_INDENT_2
        ).decode()
    )
    return result


DAYS_SECONDS = 10 * 86400  # the event store spans ten days, as in bench/neon_extract

if __name__ == "__main__":
    main()
