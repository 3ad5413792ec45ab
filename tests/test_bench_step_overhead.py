"""Smoke test of bench/step_overhead, and the two facts it exists to keep true: loading the code
location does not import the platforms' client libraries, and each platform's checks run as one
step (so a multiprocess sync starts few processes)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Imported by the steps that talk to the platform, never by loading the code location.
LAZY = ("psycopg", "github", "googleapiclient", "notion_client", "boto3", "botocore", "cloudflare", "pandas")


def test_loading_definitions_leaves_client_libraries_unimported() -> None:
    code = (
        "import sys, json; import chitty_pipelines.definitions; "
        f"print(json.dumps([m for m in {LAZY!r} if m in sys.modules]))"
    )
    out = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_smoke_run_materializes_local_in_six_steps(tmp_path: Path) -> None:
    out = tmp_path / "smoke.json"
    subprocess.run(
        [sys.executable, "-m", "bench.step_overhead.run", "--smoke", "--out", str(out)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=300,
    )
    result = json.loads(out.read_text())
    run = result["materialize_group_local"]["in_process"]
    # Three local platforms (Claude Code, ChatGPT, Gemini): one step each, checks inside it.
    assert (run["ok"], run["run_status"], run["steps"], run["steps_succeeded"]) == (True, "SUCCESS", 3, 3)
    assert (run["check_evaluations"], run["checks_failed"]) == (16, 0)
    names = result["syncall"]["names"]
    # Every platform's checks run inside its own step: no check op of their own.
    platform_bundles = {
        f"{p}_checks" for p in ("claude", "chatgpt", "gemini", "drive", "notion", "github", "cloudflare")
    }
    assert not platform_bundles & set(names)
    assert not set(result["import"]["definitions"]["heavy_modules_loaded"]) & set(LAZY)
    assert result["import"]["baseline_dagster"]["min_s"] > 0
