"""End to end through real processes: the CLI, Dagster's multiprocess executor, concurrent runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.local_fixtures import write_local_corpus
from tests.warehouse_support import (  # kept for CLI subprocesses (--warehouse=postgres)
    WAREHOUSE_URL,
    open_warehouse,
)

pytestmark = pytest.mark.slow

CLI = [sys.executable, "-m", "chitty_pipelines.cli"]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    paths = write_local_corpus(tmp_path)
    base = {
        k: v
        for k, v in os.environ.items()
        if k == WAREHOUSE_URL or not k.startswith(("CHITTY_", "CLAUDE_", "DAGSTER_"))
    }
    for name in ("NEON_DATABASE_URL", "NOTION_TOKEN", "GITHUB_TOKEN", "CLOUDFLARE_API_TOKEN"):
        base.pop(name, None)
    return {
        **base,
        "CHITTY_HOME": str(tmp_path / "home"),
        "CLAUDE_HOME": str(paths["claude"]),
        "CHITTY_EXPORTS_DIR": str(paths["exports"]),
        "DAGSTER_HOME": str(tmp_path / "dagster"),
    }


def _counts(env: dict[str, str]) -> dict[str, int]:
    with open_warehouse(env).connect() as con:
        return {
            t: con.execute(f"SELECT count(*) FROM raw_local.{t}").fetchone()[0]
            for t in ("claude_sessions", "claude_messages", "chatgpt_conversations", "chatgpt_messages")
        }


EXPECTED = {"claude_sessions": 2, "claude_messages": 4, "chatgpt_conversations": 1, "chatgpt_messages": 2}


def test_syncall_prints_progress_and_status_reports_it(env):
    Path(env["DAGSTER_HOME"]).mkdir()
    run = subprocess.run([*CLI, "syncall"], env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "raw_local/claude_sessions" in run.stderr and "syncall succeeded" in run.stderr
    assert _counts(env) == EXPECTED

    status = subprocess.run([*CLI, "status", "--json"], env=env, capture_output=True, text=True, timeout=120)
    assert status.returncode == 0, status.stderr
    local = next(p for p in json.loads(status.stdout)["platforms"] if p["platform"] == "claude_code")
    assert local["configured"] and local["last_status"] == "success"
    assert local["tables"]["claude_sessions"] == 2
    assert local["rejects"] == 0


def test_two_syncall_runs_at_once_both_succeed(env):
    Path(env["DAGSTER_HOME"]).mkdir()
    procs = [
        subprocess.Popen(
            [*CLI, "syncall"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    results = [p.communicate(timeout=300) for p in procs]
    for p, (_out, err) in zip(procs, results, strict=True):
        assert p.returncode == 0, err
    assert _counts(env) == EXPECTED


def test_multiprocess_executor_runs_syncall_with_writers_in_parallel(env):
    """The syncall job as the UI launches it, on Dagster's default multiprocess executor: each
    step is its own process, the Claude Code and ChatGPT steps write the same DuckDB file at the
    same time, and every asset check runs exactly once."""
    Path(env["DAGSTER_HOME"]).mkdir()
    cmd = [sys.executable, "-m", "dagster", "job", "execute", "-m", "chitty_pipelines.definitions"]
    run = subprocess.run(
        [*cmd, "-j", "syncall"],
        env=env,
        capture_output=True,
        text=True,
        timeout=400,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert _counts(env) == EXPECTED

    import dagster as dg

    with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        (record,) = instance.get_run_records()
        starts: dict[str, float] = {}
        ends: dict[str, float] = {}
        check_runs: dict[str, int] = {}
        for entry in instance.all_logs(record.dagster_run.run_id):
            event = entry.dagster_event
            if event is None or not event.step_key:
                continue
            if event.event_type_value == "ASSET_CHECK_EVALUATION":
                data = event.event_specific_data
                name = f"{data.asset_key.to_user_string()}:{data.check_name}"
                check_runs[name] = check_runs.get(name, 0) + 1
            if event.event_type_value == "STEP_START":
                starts[event.step_key] = entry.timestamp
            elif event.event_type_value == "STEP_SUCCESS":
                ends[event.step_key] = entry.timestamp
    local_steps = ["claude_code_transcripts", "chatgpt_exports"]  # the two writing asset steps
    assert set(local_steps) <= set(starts) & set(ends), (starts, ends)
    # The two local steps ran at the same time: each started before the other finished.
    assert max(starts[k] for k in local_steps) < min(ends[k] for k in local_steps)

    from chitty_pipelines.definitions import defs

    job = defs.resolve_job_def("syncall")
    expected = {
        f"{key.asset_key.to_user_string()}:{key.name}" for key in job.asset_layer.asset_graph.asset_check_keys
    }
    assert check_runs == dict.fromkeys(expected, 1)
