"""Benchmark: ``chitty-sync syncall`` of the demo organisation with CHITTY_EXECUTOR=celery on two
Celery workers against one (issue 13), plus the same syncall without Celery for scale (the CLI's
default: a process per platform).

    .venv/bin/python -m bench.celery_workers.run                 # demo + a 50 MB Claude Code corpus
    .venv/bin/python -m bench.celery_workers.run --size-mb 0     # the demo organisation only

Same machinery as tests/test_celery_executor.py (tests/celery_harness.py): a private
redis-server (scripts/setup-redis), a throwaway PostgreSQL holding a fresh warehouse database and
a fresh dagster-postgres instance database per measured run, the demo's fakes, workers in empty
folders of their own started (and ready) before the clock starts. With ``--size-mb`` > 0 the
Claude Code platform reads bench/local_ingest's generated corpus (bench/.work, reused) instead of
the demo's two sessions. Wall time of the CLI process only. Writes
bench/results/celery_workers.json.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

from bench.local_ingest.run import code_version, corpus_for  # noqa: E402


def _measure(env: dict[str, str], cwd: Path) -> float:
    from celery_harness import syncall

    t0 = time.perf_counter()
    run = syncall(env, cwd, timeout=1800)
    wall = time.perf_counter() - t0
    if run.returncode != 0:
        raise RuntimeError(f"syncall failed:\n{run.stdout[-3000:]}{run.stderr[-3000:]}")
    return wall


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=float, default=50.0, help="generated Claude Code corpus; 0: none")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=1, help="measured runs per configuration")
    parser.add_argument("--work", type=Path, default=ROOT / "bench" / ".work")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "celery_workers.json")
    a = parser.parse_args(argv)

    from celery_harness import base_env, dagster_home_from_example, dagster_pg_env, redis_server, workers
    from postgres_harness import fresh_database, postgres_server

    from chitty_pipelines.demo import demo_stack, prepare_home

    corpus_info: dict[str, Any] | None = None
    corpus: Path | None = None
    if a.size_mb > 0:
        corpus, manifest, reused = corpus_for(a.work, a.size_mb, a.seed, (0.05, 0.03, 1))
        corpus_info = {"size_mb": a.size_mb, "seed": a.seed, "reused": reused, "files": manifest.get("files")}

    walls: dict[str, list[float]] = {"no_celery": [], "celery_1_worker": [], "celery_2_workers": []}
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="chitty-bench-celery-") as tmp_name:
        tmp = Path(tmp_name)
        home = tmp / "demo"
        prepare_home(home)
        with postgres_server() as pg, redis_server() as redis_url, demo_stack(home) as stack:
            demo_env = dict(stack.env)
            if corpus is not None:
                demo_env["CLAUDE_HOME"] = str(corpus)
            for rep in range(a.repeat):
                for name, count in (("no_celery", 0), ("celery_1_worker", 1), ("celery_2_workers", 2)):
                    root = tmp / f"{name}-{rep}"
                    root.mkdir()
                    with fresh_database(pg, prefix="wh") as wh, fresh_database(pg, prefix="dg") as dg_db:
                        env = {
                            **base_env(),
                            **demo_env,
                            "CHITTY_HOME": str(root / "home"),
                            "CHITTY_WAREHOUSE_URL": wh,
                        }
                        if count == 0:
                            env["DAGSTER_HOME"] = str(root / "dagster")
                            walls[name].append(_measure(env, root))
                        else:
                            env.update(dagster_pg_env(dg_db))
                            env.update(
                                DAGSTER_HOME=str(dagster_home_from_example(root / "dagster")),
                                CHITTY_EXECUTOR="celery",
                                CHITTY_CELERY_BROKER_URL=redis_url,
                                CHITTY_CELERY_VISIBILITY_TIMEOUT="1800",  # no redelivery of a slow step
                            )
                            with workers(count, env, root / "workers"):
                                walls[name].append(_measure(env, root))
                    print(f"{name} run {rep + 1}: {walls[name][-1]:.1f} s", file=sys.stderr)

    median = {k: statistics.median(v) for k, v in walls.items()}
    result = {
        "what": "wall time of `chitty-sync syncall` (demo organisation"
        + (f" + {a.size_mb:g} MB Claude Code corpus" if corpus else "")
        + ") into a PostgreSQL warehouse; Celery workers started before the clock",
        "cpu_count": os.cpu_count(),
        "machine": platform.platform(),
        "python": platform.python_version(),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "corpus": corpus_info,
        "repeat": a.repeat,
        "wall_s": {k: [round(x, 2) for x in v] for k, v in walls.items()},
        "median_wall_s": {k: round(v, 2) for k, v in median.items()},
        "ratio_2_workers_over_1": round(median["celery_2_workers"] / median["celery_1_worker"], 3),
        "ratio_celery_2_workers_over_no_celery": round(median["celery_2_workers"] / median["no_celery"], 3),
        "code": code_version(),
        "note": "shared, noisy machine (other jobs run beside it): compare within one invocation only. "
        "no_celery = the CLI's default (a process per platform started inside the clock, SQLite "
        "instance); the Celery workers load the code before the clock and keep it loaded.",
    }
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2) + b"\n")
    print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())
    return result


if __name__ == "__main__":
    main()
