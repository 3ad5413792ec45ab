"""``chitty-sync topicsync [--full-refresh]``: the topic assets run through Dagster from the CLI
(in a subprocess, so the definitions pick up this test's CHITTY_HOME)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from topic_support import put_sessions

from chitty_pipelines.definitions import defs
from chitty_pipelines.ops.status import unified_tables
from tests.warehouse_support import WAREHOUSE_URL  # kept for CLI subprocesses (--warehouse=postgres)

CLI = [sys.executable, "-m", "chitty_pipelines.cli"]


def test_topicsync_job_and_command(warehouse, chitty_home):
    job = defs.resolve_job_def("topicsync")
    assert {k.to_user_string() for k in job.asset_layer.executable_asset_keys} == {
        "unified/session_topics",
        "unified/topics",
    }
    put_sessions(
        warehouse,
        {"a": "Add JWT auth and OAuth login to the worker.", "b": "Write the README and a tutorial guide."},
    )
    env = {
        k: v for k, v in os.environ.items() if k == WAREHOUSE_URL or not k.startswith(("CHITTY_", "DAGSTER_"))
    }
    env.update({"CHITTY_HOME": str(chitty_home), "COLUMNS": "200"})

    def topicsync(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [*CLI, "topicsync", *args], env=env, capture_output=True, text=True, timeout=300
        )

    run = topicsync("--full-refresh")
    assert run.returncode == 0, run.stderr
    assert "topicsync succeeded" in run.stderr
    assert "Authentication" in run.stdout and "Documentation" in run.stdout
    primaries = warehouse.query(
        "SELECT session_key, topic_id FROM unified.session_topics WHERE rank = 1 ORDER BY 1"
    ).values.tolist()
    assert primaries == [["a", "auth"], ["b", "docs"]]
    log = warehouse.query(
        "SELECT full_refresh, status FROM ops.sync_log "
        "WHERE platform = 'unified' AND asset = 'unified/session_topics'"
    ).values.tolist()
    assert log == [[True, "success"]]  # the flag reached the asset through the run's tag
    # Logged under their asset keys like every unified table, so `status` finds their last build
    # (they were logged as "session_topics" and "topics": status showed them never built).
    tables = {t["table"]: t for t in unified_tables(warehouse)}
    for table in ("unified.session_topics", "unified.topics"):
        assert tables[table]["last_materialization"] and tables[table]["last_status"] == "success", tables
    # A user looking for a session key to label: `topics docs` said only "see `chitty-sync sql`";
    # it names the query, and that query lists the key.
    shown = subprocess.run([*CLI, "topics", "docs"], env=env, capture_output=True, text=True, timeout=300)
    assert shown.returncode == 0, shown.stderr
    query = shown.stdout.split("chitty-sync sql ", 1)[1].strip().strip('"')
    listed = subprocess.run([*CLI, "sql", query], env=env, capture_output=True, text=True, timeout=300)
    assert listed.returncode == 0 and listed.stdout.splitlines()[1].split("\t")[0] == "b", listed


@pytest.mark.duckdb_only("a PostgreSQL warehouse always exists; the file is DuckDB's")
def test_topic_set_on_a_fresh_home_refuses_and_creates_nothing(tmp_path):
    """No warehouse yet, so no session: a clear error, and no empty warehouse file left behind
    (which made `sql` stop saying "run syncall first")."""
    home = tmp_path / "fresh"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHITTY_", "DAGSTER_", "CLAUDE_"))}
    env.update({"CHITTY_HOME": str(home), "HOME": str(tmp_path), "COLUMNS": "200"})

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=300)

    run = cli("topic", "set", "claude_code:abc", "auth")
    assert run.returncode == 2, run.stderr
    assert "unknown session 'claude_code:abc'" in run.stderr and "run chitty-sync syncall first" in run.stderr
    assert cli("topic", "unset", "claude_code:abc").returncode == 2
    assert not (home / "warehouse.duckdb").exists()
    assert "syncall" in cli("sql", "SELECT 1").stderr
