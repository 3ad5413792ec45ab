"""What a sync pays per Dagster step: loading the code location, and the step count of syncall.

Under the multiprocess executor every step is a fresh process that imports the whole code
location, so the import time times the number of steps is a floor on a full sync's wall time.

    .venv/bin/python -m bench.step_overhead.run            # 5 import samples, both executors
    .venv/bin/python -m bench.step_overhead.run --smoke    # 1 sample, in-process run only

Measures, each in a child process of its own: ``import dagster`` (the floor: the framework
alone, the baseline) and ``import chitty_pipelines.definitions`` (min and median of N fresh
processes, and which heavy client libraries it loaded); the ops of the ``syncall`` job; and
``dagster asset materialize --select group:local`` on the tiny corpus of tests/local_fixtures.py
with a temp DAGSTER_HOME and CHITTY_HOME, under the multiprocess executor and in process (the
ratio is what one process per step costs). Writes bench/results/step_overhead.json (smoke:
bench/.work/step_overhead.smoke.json).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PY = sys.executable
DAGSTER = str(Path(PY).with_name("dagster"))
HEAVY = [
    *("pandas", "numpy", "pyarrow", "duckdb", "psycopg", "github", "requests", "googleapiclient"),
    *("google.auth", "httplib2", "notion_client", "httpx", "boto3", "botocore", "cloudflare", "sklearn"),
]

_IMPORT = """
import json, sys, time
t = time.perf_counter()
import {module}
wall = time.perf_counter() - t
print(json.dumps({{"wall_s": wall, "heavy": [m for m in {heavy!r} if m in sys.modules]}}))
"""

_OPS = """
import json, warnings
warnings.simplefilter("ignore")
from chitty_pipelines.definitions import defs
job = defs.resolve_job_def("syncall")
names = sorted(n.name for n in job.graph.nodes)
check_defs = {c.node_def.name for c in defs.asset_checks or []}
check_ops = [n.name for n in job.graph.nodes if n.definition.name in check_defs]
print(json.dumps({"ops": len(names), "check_ops": len(check_ops), "names": names}))
"""


def _child_json(code: str, env: dict[str, str] | None = None) -> dict:
    out = subprocess.run(
        [PY, "-W", "ignore", "-c", code], capture_output=True, text=True, check=True, env=env, cwd=ROOT
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def import_times(module: str, samples: int) -> dict:
    runs = [_child_json(_IMPORT.format(module=module, heavy=HEAVY)) for _ in range(samples)]
    walls = [r["wall_s"] for r in runs]
    return {
        "samples": samples,
        "min_s": round(min(walls), 3),
        "median_s": round(statistics.median(walls), 3),
        "heavy_modules_loaded": runs[-1]["heavy"],
    }


# The three local AI-tool platforms (each a Dagster group of its own).
LOCAL_SELECTION = "group:claude_code or group:chatgpt or group:gemini"


def materialize_local(executor: str) -> dict:
    """``dagster asset materialize`` of the local platforms in a fresh DAGSTER_HOME and warehouse."""
    sys.path.insert(0, str(ROOT))
    from tests.local_fixtures import write_local_corpus

    with tempfile.TemporaryDirectory(prefix="step_overhead-") as tmp:
        t = Path(tmp)
        paths = write_local_corpus(t / "corpus")
        (t / "dh").mkdir()
        env = {
            **os.environ,
            "DAGSTER_HOME": str(t / "dh"),
            "CHITTY_HOME": str(t / "home"),
            "CLAUDE_HOME": str(paths["claude"]),
            "CHITTY_EXPORTS_DIR": str(paths["exports"]),
        }
        cmd = [
            DAGSTER,
            "asset",
            "materialize",
            "-m",
            "chitty_pipelines.definitions",
            "--select",
            LOCAL_SELECTION,
        ]
        if executor == "in_process":
            cmd += ["--config-json", json.dumps({"execution": {"config": {"in_process": {}}}})]
        log_path = t / "materialize.log"
        started = time.perf_counter()
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
            # wait4, not wait: its rusage is the CLI's and the step processes it reaped.
            _, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - started
        ok = proc.returncode == 0
        summary = _child_json(_RUN_SUMMARY, env=env) if ok else {}
        return {
            "ok": ok,
            "wall_s": round(wall, 2),
            "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
            **summary,
            **({} if ok else {"log_tail": log_path.read_text(errors="replace")[-2000:]}),
        }


_RUN_SUMMARY = """
import json, warnings
warnings.simplefilter("ignore")
import dagster as dg
inst = dg.DagsterInstance.get()
run = inst.get_runs()[0]
stats = inst.get_run_step_stats(run.run_id)
checks = inst.get_records_for_run(run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION).records
print(json.dumps({
    "run_status": run.status.value,
    "steps": len(stats),
    "steps_succeeded": sum(s.status.value == "SUCCESS" for s in stats),
    "check_evaluations": len(checks),
    "checks_failed": sum(not r.event_log_entry.dagster_event.event_specific_data.passed for r in checks),
}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="one import sample, in-process run only")
    parser.add_argument("--samples", type=int, default=5, help="fresh processes per import measurement")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    samples = 1 if args.smoke else args.samples
    out = args.out or (
        ROOT / "bench/.work/step_overhead.smoke.json"
        if args.smoke
        else ROOT / "bench/results/step_overhead.json"
    )

    baseline = import_times("dagster", samples)
    ours = import_times("chitty_pipelines.definitions", samples)
    runs = {"in_process": materialize_local("in_process")}
    if not args.smoke:
        runs["multiprocess"] = materialize_local("multiprocess")
    result = {
        "bench": "step_overhead",
        "inputs": {
            "smoke": args.smoke,
            "samples": samples,
            "selection": f"{LOCAL_SELECTION} (tests/local_fixtures.py)",
        },
        "machine": {"python": sys.version.split()[0], "cpus": os.cpu_count(), "loadavg": os.getloadavg()},
        "import": {"baseline_dagster": baseline, "definitions": ours},
        "import_ratio_to_baseline": round(ours["min_s"] / baseline["min_s"], 2),
        "syncall": _child_json(_OPS),
        "materialize_group_local": runs,
    }
    if "multiprocess" in runs and runs["in_process"]["ok"] and runs["multiprocess"]["ok"]:
        result["multiprocess_ratio_to_in_process"] = round(
            runs["multiprocess"]["wall_s"] / runs["in_process"]["wall_s"], 2
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(
        json.dumps(
            {k: v for k, v in result.items() if k != "syncall"} | {"syncall_ops": result["syncall"]["ops"]},
            indent=1,
        )
    )
    if not all(r["ok"] for r in runs.values()):
        sys.exit(1)


if __name__ == "__main__":
    main()
