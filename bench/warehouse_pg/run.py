"""Benchmark: the PostgreSQL warehouse (CHITTY_WAREHOUSE_URL) against the DuckDB one and against a
raw COPY, in one invocation (issue 13).

    .venv/bin/python -m bench.warehouse_pg.run                     # 500 MB corpus, 1M events
    .venv/bin/python -m bench.warehouse_pg.run --corpus bench/.work/corpus-500mb-seed7-r0.05-g0.03-x1
    .venv/bin/python -m bench.warehouse_pg.run --size-mb 20 --rows 200000   # a quick run
    .venv/bin/python -m bench.warehouse_pg.run --smoke                      # 3 MB, 20,000 events

* ``syncall``: ``chitty-sync syncall`` (a subprocess, the user's command) over the generated
  Claude Code corpus of bench/syncall_e2e (bench/.work, reused when present; ``--corpus`` points
  at one read-only) into a fresh DuckDB CHITTY_HOME, then into a fresh PostgreSQL database,
  ``--repeat`` times alternating; target: PostgreSQL <= 2x DuckDB wall time. Token totals of
  raw_local.claude_sessions must be equal in both.
* ``neon``: the ``raw_neon/event_store`` asset (bench/neon_extract's generated event store) into
  the PostgreSQL warehouse vs a raw binary ``COPY ... TO STDOUT`` of the same table, each a child
  process, alternating ``--neon-repeat`` times; target: asset rows/s >= 0.5x raw COPY rows/s (the
  DuckDB warehouse and a CSV COPY are timed too, for scale).

One throwaway cluster (tests/postgres_harness.py; CHITTY_TEST_POSTGRES_DSN when set) holds the
source event store and the warehouse databases. Writes bench/results/warehouse_pg.json; a part
left out with ``--skip-syncall`` / ``--skip-neon`` keeps its previous figures from that file.
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

import orjson

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

from bench.local_ingest.measure import warm_page_cache  # noqa: E402
from bench.local_ingest.run import KEYS, code_version, corpus_for  # noqa: E402
from bench.neon_extract.run import GENERATE, child_raw_copy  # noqa: E402
from bench.syncall_e2e.measure import run_facts, run_tree_measured  # noqa: E402
from bench.syncall_e2e.run import CHITTY_SYNC, syncall_env  # noqa: E402

# --keys random: the same events keyed by a UUID-like md5 of the row number, in no relation to
# the cursor (what a bulk first load is for; platforms/neon/streams.py _bulk_load)
RANK_KEY = "'CT-01-1-CHI-' || lpad(i::text, 9, '0')"
RANDOM_KEY = "md5('k' || i::text)::uuid::text"
DAYS_SECONDS = 10 * 86400  # the event store spans ten days, as in bench/neon_extract


def stats(values: list[float]) -> dict[str, Any]:
    return {
        "best": round(min(values), 3),
        "median": round(statistics.median(values), 3),
        "all": [round(v, 3) for v in values],
    }


# -- syncall ------------------------------------------------------------------------------------
def tokens(home: Path, url: str | None) -> dict[str, int]:
    from chitty_pipelines.warehouse import Warehouse

    wh = Warehouse(home / "warehouse.duckdb", url=url)
    sums = ", ".join(f"CAST(coalesce(sum({k}), 0) AS BIGINT) AS {k}" for k in KEYS)
    row = wh.query(f"SELECT count(*), {sums} FROM raw_local.claude_sessions").iloc[0].tolist()
    return dict(zip(["sessions", *KEYS], (int(v) for v in row), strict=True))


def syncall(work: Path, corpus: Path, url: str | None) -> dict[str, Any]:
    cycle = Path(tempfile.mkdtemp(prefix="warehouse_pg_", dir=work))
    try:
        env = syncall_env(cycle, corpus)
        if url:
            env["CHITTY_WAREHOUSE_URL"] = url
        m = run_tree_measured([str(CHITTY_SYNC), "syncall"], env=env, cwd=ROOT)
        out: dict[str, Any] = {"ok": m["returncode"] == 0, **{k: v for k, v in m.items() if k != "stderr"}}
        if not out["ok"]:
            out["stderr_tail"] = m["stderr"][-3000:]
            return out
        facts = run_facts(Path(env["DAGSTER_HOME"]), set())
        facts.pop("run_ids", None)
        out["slowest_steps"] = facts.get("slowest_steps", {})
        out["tokens"] = tokens(Path(env["CHITTY_HOME"]), url)
        return out
    finally:
        shutil.rmtree(cycle, ignore_errors=True)


def syncall_part(a: argparse.Namespace, dsn: str, corpus: Path) -> dict[str, Any]:
    from postgres_harness import fresh_database

    warm_page_cache(corpus)
    load = os.getloadavg()
    duck, pg = [], []
    for _ in range(a.repeat):  # alternating: a load change on the shared machine hits both
        duck.append(syncall(a.work, corpus, None))
        with fresh_database(dsn, prefix="bench_wh") as url:
            pg.append(syncall(a.work, corpus, url))
    ok = all(r["ok"] for r in duck + pg)
    part: dict[str, Any] = {
        "when": _now(),
        "loadavg_before": load,
        "runs": {"duckdb": duck, "postgres": pg},
    }
    if ok:
        d = stats([r["wall_s"] for r in duck])
        p = stats([r["wall_s"] for r in pg])
        part.update(
            duckdb_wall_s=d,
            postgres_wall_s=p,
            ratio_pg_over_duckdb_median=round(p["median"] / d["median"], 2),
            ratio_pg_over_duckdb_best=round(p["best"] / d["best"], 2),
            tokens_equal=all(r["tokens"] == duck[0]["tokens"] for r in duck + pg),
            tokens=duck[0]["tokens"],
        )
    part["target"] = "postgres / duckdb wall time <= 2.0"
    part["met"] = bool(ok and part["ratio_pg_over_duckdb_median"] <= 2.0 and part["tokens_equal"])
    part["loadavg_after"] = os.getloadavg()
    return part


# -- neon ---------------------------------------------------------------------------------------
def child_asset(source_dsn: str, url: str | None, path: str) -> dict[str, Any]:
    """The ``raw_neon/event_store`` asset (what syncall runs) into a fresh warehouse, timed around
    ``dg.materialize`` (the ephemeral instance is made before the clock starts)."""
    import warnings

    warnings.simplefilter("ignore")
    import dagster as dg

    from chitty_pipelines.platforms.neon.assets import build_stream_asset
    from chitty_pipelines.platforms.neon.resource import NeonResource
    from chitty_pipelines.platforms.neon.stream_config import DEFAULT_STREAMS
    from chitty_pipelines.warehouse.resource import WarehouseResource

    instance = dg.DagsterInstance.ephemeral()
    warehouse = WarehouseResource(path=path, url=url) if url else WarehouseResource(path=path)
    started, cpu = time.perf_counter(), time.process_time()
    result = dg.materialize(
        [build_stream_asset(DEFAULT_STREAMS[0])],
        resources={"neon": NeonResource(database_url=source_dsn), "warehouse": warehouse},
        instance=instance,
    )
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    md = result.get_asset_materialization_events()[-1].materialization.metadata
    value = {k: getattr(v, "value", v) for k, v in md.items()}
    return {
        "warehouse": warehouse.get().kind,
        "seconds": seconds,
        "timed_cpu_s": cpu,
        "rows_written": int(value["rows_written"]),
        "row_count": int(value["dagster/row_count"]),
        "chunks": int(value["chunks"]),
    }


def server_cpu(dsn: str) -> Any:
    """A function giving the CPU seconds the PostgreSQL cluster has used so far (postmaster, the
    backends that ended, the live ones: background writers included), or None when the server is
    not a local process we can read (CHITTY_TEST_POSTGRES_DSN elsewhere)."""
    import psutil
    import psycopg

    try:
        with psycopg.connect(dsn) as con:
            data = Path(con.execute("SHOW data_directory").fetchone()[0])
        postmaster = psutil.Process(int((data / "postmaster.pid").read_text().split()[0]))
        postmaster.cpu_times()
    except Exception:
        return None

    def used() -> float:
        c = postmaster.cpu_times()
        total = c.user + c.system + c.children_user + c.children_system
        for child in postmaster.children():
            try:
                t = child.cpu_times()
                total += t.user + t.system
            except psutil.Error:  # ended meanwhile: counted in children_* from now on
                pass
        return total

    return used


def run_child(args: list[str], server: Any = None) -> dict[str, Any]:
    """One contender in its own process: wall time, and the CPU seconds of the child (all its
    threads) and of the PostgreSQL server meanwhile. On a shared machine CPU seconds are the
    steadier comparison: wall time also measures how much of the CPU the others left us."""
    import resource

    def children_cpu() -> float:
        r = resource.getrusage(resource.RUSAGE_CHILDREN)
        return r.ru_utime + r.ru_stime

    cpu0, server0 = children_cpu(), server() if server else None
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "bench.warehouse_pg.run", "--child", *args],
        cwd=ROOT,
        capture_output=True,
    )
    if done.returncode != 0:
        raise SystemExit(f"child {args[0]} failed:\n{done.stderr.decode(errors='replace')[-3000:]}")
    out = {
        **json.loads(done.stdout.decode().strip().splitlines()[-1]),
        "process_s": time.perf_counter() - started,
        "client_cpu_s": children_cpu() - cpu0,
    }
    if server0 is not None:
        out["server_cpu_s"] = server() - server0
    return out


def neon_part(a: argparse.Namespace, dsn: str) -> dict[str, Any]:
    import psycopg
    from postgres_harness import fresh_database

    runs: dict[str, list[dict[str, Any]]] = {
        "raw_copy_binary": [],
        "raw_copy_csv": [],
        "asset_into_postgres": [],
        "asset_into_duckdb": [],
    }
    with fresh_database(dsn, prefix="bench_src") as src:
        with psycopg.connect(src, autocommit=True) as con:
            spacing = DAYS_SECONDS / a.rows
            generate = GENERATE if a.keys == "serial" else GENERATE.replace(RANK_KEY, RANDOM_KEY)
            con.execute(generate.replace("%(spacing)s", repr(spacing)).replace("%(rows)s", str(a.rows)))
        run_child(["raw_copy", src, "binary"])  # warms the server's cache: every contender reads memory
        tmp = Path(tempfile.mkdtemp(prefix="warehouse_pg_neon_", dir=a.work))
        cpu = server_cpu(dsn)
        try:
            for i in range(a.neon_repeat):
                runs["raw_copy_binary"].append(run_child(["raw_copy", src, "binary"], cpu))
                with fresh_database(dsn, prefix="bench_wh2") as url:
                    runs["asset_into_postgres"].append(run_child(["asset_pg", src, url], cpu))
                runs["raw_copy_csv"].append(run_child(["raw_copy", src, "csv"], cpu))
                duck = str(tmp / f"wh{i}.duckdb")
                runs["asset_into_duckdb"].append(run_child(["asset_duckdb", src, duck], cpu))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    for name, kind in (("asset_into_postgres", "postgres"), ("asset_into_duckdb", "duckdb")):
        assert all(r["rows_written"] == r["row_count"] == a.rows for r in runs[name]), runs[name]
        assert all(r["warehouse"] == kind for r in runs[name]), runs[name]
    assert all(r["rows"] == a.rows for r in runs["raw_copy_binary"] + runs["raw_copy_csv"])
    part: dict[str, Any] = {"when": _now(), "rows": a.rows, "repeat": a.neon_repeat}
    rates: dict[str, dict[str, Any]] = {}
    cpu_totals: dict[str, float] = {}
    for name, rs in runs.items():
        seconds = stats([r["seconds"] for r in rs])
        rates[name] = {"best": round(a.rows / seconds["best"]), "median": round(a.rows / seconds["median"])}
        part[name] = {"seconds": seconds, "rows_per_s": rates[name]}
        # CPU of the child while timed (all its threads), of the whole child process (imports and
        # Dagster set-up included) and of the server
        part[name]["client_cpu_s"] = stats([r["timed_cpu_s"] for r in rs])
        part[name]["client_process_cpu_s"] = stats([r["client_cpu_s"] for r in rs])
        if all("server_cpu_s" in r for r in rs):
            part[name]["server_cpu_s"] = stats([r["server_cpu_s"] for r in rs])
            total = stats([r["timed_cpu_s"] + r["server_cpu_s"] for r in rs])
            part[name]["cpu_s"] = total
            cpu_totals[name] = total["median"]
    for name in ("asset_into_postgres", "asset_into_duckdb"):
        for base in ("raw_copy_binary", "raw_copy_csv"):
            part[f"ratio_{name}_over_{base}"] = {
                k: round(rates[name][k] / rates[base][k], 2) for k in ("best", "median")
            }
    # each repetition's asset over the raw COPY measured right before it (the pair shares the load)
    part["ratio_asset_into_postgres_over_raw_copy_binary"]["paired"] = [
        round(b["seconds"] / p["seconds"], 2)
        for b, p in zip(runs["raw_copy_binary"], runs["asset_into_postgres"], strict=True)
    ]
    if "raw_copy_binary" in cpu_totals and "asset_into_postgres" in cpu_totals:
        # rows per CPU second (client + server), asset over raw COPY: what the ratio of rows/s
        # tends to when the CPU, not the pipeline, is the limit (a saturated shared machine)
        part["cpu_ratio_raw_copy_binary_over_asset_into_postgres"] = round(
            cpu_totals["raw_copy_binary"] / cpu_totals["asset_into_postgres"], 2
        )
    part["target"] = "asset into PostgreSQL rows/s >= 0.5x raw binary COPY rows/s"
    part["met"] = part["ratio_asset_into_postgres_over_raw_copy_binary"]["median"] >= 0.5
    part["loadavg_after"] = os.getloadavg()
    return part


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def main(argv: list[str] | None = None) -> dict[str, Any] | None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size-mb", type=float, default=500.0)
    ap.add_argument("--corpus", type=Path, default=None, help="an existing generated corpus (read only)")
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--repeat", type=int, default=2, help="syncall runs per backend")
    ap.add_argument("--neon-repeat", type=int, default=3, help="runs of every Neon contender")
    ap.add_argument(
        "--keys",
        choices=("serial", "random"),
        default="serial",
        help="Neon event keys: in cursor order (serial, the default) or not (random, UUID-like)",
    )
    ap.add_argument("--skip-syncall", action="store_true")
    ap.add_argument("--skip-neon", action="store_true")
    ap.add_argument("--work", type=Path, default=ROOT / "bench" / ".work")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--smoke", action="store_true", help="3 MB corpus, 20,000 events, seconds")
    ap.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.child:
        kind, *rest = a.child
        if kind == "raw_copy":
            cpu = time.process_time()
            result = child_raw_copy(rest[0], rest[1])
            result["timed_cpu_s"] = time.process_time() - cpu
        elif kind == "asset_pg":  # the warehouse URL may be a key=value DSN: named, not guessed
            result = child_asset(rest[0], rest[1], str(a.work / "unused.duckdb"))
        else:
            result = child_asset(rest[0], None, rest[1])
        print(json.dumps(result))
        return None
    if a.smoke:
        a.size_mb, a.rows, a.repeat, a.neon_repeat = 3.0, 20_000, 1, 1
    a.out = a.out or (
        a.work / "warehouse_pg.smoke.json" if a.smoke else ROOT / "bench" / "results" / "warehouse_pg.json"
    )
    from postgres_harness import postgres_server

    a.work.mkdir(parents=True, exist_ok=True)
    previous = orjson.loads(a.out.read_bytes()) if a.out.exists() else {}
    result: dict[str, Any] = {
        "bench": "warehouse_pg",
        "when": _now(),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "loadavg": os.getloadavg(),
            "note": "2 cores shared with other workers: compare ratios measured in one invocation",
        },
        "code": code_version(),
        "inputs": {
            "neon_rows": a.rows,
            "neon_keys": a.keys,
            "seed": a.seed,
            "repeat": a.repeat,
            "neon_repeat": a.neon_repeat,
        },
    }
    with postgres_server() as dsn:
        import psycopg

        with psycopg.connect(dsn) as con:
            result["machine"]["postgres"] = con.execute("SHOW server_version").fetchone()[0]
        if a.skip_syncall:
            result["syncall"] = previous.get("syncall")
        else:
            if a.corpus:
                corpus = a.corpus.resolve()
                manifest = orjson.loads((corpus / "manifest.json").read_bytes())
            else:
                corpus, manifest, _ = corpus_for(a.work, a.size_mb, a.seed, (0.05, 0.03, 1))
            result["inputs"].update(corpus=corpus.name, corpus_bytes=manifest.get("bytes"))
            result["syncall"] = syncall_part(a, dsn, corpus)
        result["neon"] = previous.get("neon") if a.skip_neon else neon_part(a, dsn)
    if a.skip_syncall and previous.get("inputs"):
        result["inputs"].update(
            {k: previous["inputs"][k] for k in ("corpus", "corpus_bytes") if k in previous["inputs"]}
        )
    result["machine"]["loadavg_after"] = os.getloadavg()
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2) + b"\n")
    brief = {
        "syncall": {k: v for k, v in (result["syncall"] or {}).items() if k != "runs"},
        "neon": result["neon"],
    }
    print(orjson.dumps(brief, option=orjson.OPT_INDENT_2).decode())
    return result


if __name__ == "__main__":
    main()
