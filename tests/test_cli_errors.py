"""Errors as a new user meets them (issue 15): no traceback without --debug, the message names
the variable or file and what to do, and the last line states the outcome. With --debug (or
CHITTY_DEBUG=1) the traceback is shown, masked like everything else."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from chitty_pipelines import config

CLI = [sys.executable, "-m", "chitty_pipelines.cli"]
SECRET = "ghp_" + "S3cretValueForTheErrorTest0123"


def _run(args: list[str], tmp_path: Path, **extra: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not any(k == s.name for s in config.ENV_VARS)}
    env.update(
        CHITTY_HOME=str(tmp_path / "home"),
        CLAUDE_HOME=str(tmp_path / "claude"),
        DAGSTER_HOME=str(tmp_path / "dagster"),
        CHITTY_OFFLINE="1",
        GITHUB_TOKEN=SECRET,
        **extra,
    )
    return subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=120)


def _plain_failure(run: subprocess.CompletedProcess, command: str) -> str:
    assert run.returncode == 1, run.stderr
    assert "Traceback" not in run.stdout + run.stderr
    assert SECRET not in run.stdout + run.stderr
    assert run.stderr.strip().splitlines()[-1] == f"chitty-sync {command} failed"
    return run.stderr


def test_a_variable_that_is_not_a_number_is_named(tmp_path):
    err = _plain_failure(
        _run(["status", "--no-health"], tmp_path, CHITTY_LOCK_TIMEOUT="ten minutes"), "status"
    )
    assert "CHITTY_LOCK_TIMEOUT='ten minutes' is not a number: set CHITTY_LOCK_TIMEOUT to a number" in err


@pytest.mark.parametrize(
    ("name", "value", "named"),
    [
        (
            "CHITTY_TOPIC_MAX_PER_SESSION",
            "-3",
            "CHITTY_TOPIC_MAX_PER_SESSION='-3' is out of range: set CHITTY_TOPIC_MAX_PER_SESSION to a "
            "whole number at least 1 (default 3)",
        ),
        (
            "CHITTY_TOPIC_MIN_CONFIDENCE",
            "1.5",
            "CHITTY_TOPIC_MIN_CONFIDENCE='1.5' is out of range: set CHITTY_TOPIC_MIN_CONFIDENCE to a "
            "number at least 0 and at most 1",
        ),
        (
            "GITHUB_TIMEOUT_S",
            "0",
            "GITHUB_TIMEOUT_S='0' is out of range: set GITHUB_TIMEOUT_S to a number above 0",
        ),
    ],
)
def test_a_number_out_of_its_range_is_named(tmp_path, name, value, named):
    """Was accepted silently (a negative number of topics per session, a timeout of 0)."""
    err = _plain_failure(_run(["topicsync"], tmp_path, **{name: value}), "topicsync")
    assert " ".join(named.split()) in " ".join(err.split()), err


def test_a_broken_warehouse_file_is_named_with_its_variable(tmp_path):
    folder = tmp_path / SECRET  # the path holds a secret's value: it is masked in every message
    folder.mkdir()
    (folder / "wh.duckdb").write_text("not a database")
    run = _run(["status", "--no-health"], tmp_path, CHITTY_WAREHOUSE_PATH=str(folder / "wh.duckdb"))
    err = _plain_failure(run, "status")
    assert "the warehouse " in err and "***" in err and "check CHITTY_WAREHOUSE_PATH" in err
    assert "--debug" in err  # says how to see more


def test_a_chitty_home_that_is_a_file_is_named(tmp_path):
    (tmp_path / "home").write_text("a file, not a folder")
    err = _plain_failure(_run(["project", "list"], tmp_path), "project")
    assert str(tmp_path / "home") in err and "CHITTY_HOME" in err


@pytest.mark.parametrize("how", ["flag", "env"])
def test_debug_shows_the_masked_traceback(tmp_path, how):
    folder = tmp_path / SECRET
    folder.mkdir()
    (folder / "wh.duckdb").write_text("not a database")
    extra = {"CHITTY_WAREHOUSE_PATH": str(folder / "wh.duckdb")}
    args = ["status", "--no-health"]
    if how == "flag":
        args = ["--debug", *args]
    else:
        extra["CHITTY_DEBUG"] = "1"
    run = _run(args, tmp_path, **extra)
    assert run.returncode == 1
    assert "Traceback (most recent call last)" in run.stderr and "IOException" in run.stderr
    assert SECRET not in run.stdout + run.stderr
    assert run.stderr.strip().splitlines()[-1] == "chitty-sync status failed"


@pytest.mark.parametrize(
    ("name", "value", "named"),
    [
        ("SESSION_TTL", "30min", "SESSION_TTL='30min' is not a number: set SESSION_TTL to a number"),
        (
            "CHITTY_API_MAX_BODY_BYTES",
            "1MB",
            "CHITTY_API_MAX_BODY_BYTES='1MB' is not a whole number: set CHITTY_API_MAX_BODY_BYTES",
        ),
    ],
)
def test_serve_names_a_variable_that_is_not_a_number_before_it_listens(tmp_path, name, value, named):
    """Both were a bare ValueError: SESSION_TTL on every read of a session (a 500), the body limit
    at the start."""
    err = _plain_failure(_run(["serve", "--port", "0"], tmp_path, **{name: value}), "serve")
    assert named in err, err


def test_entity_codes_that_are_not_json_are_named(tmp_path):
    """CHITTY_ID_ENTITY_CODES=notjson was a bare JSONDecodeError naming nothing."""
    err = _plain_failure(_run(["syncall"], tmp_path, CHITTY_ID_ENTITY_CODES="notjson"), "syncall")
    assert "CHITTY_ID_ENTITY_CODES='notjson' is not a JSON object" in err, err


@pytest.mark.timeout(300)
def test_syncall_names_a_session_ttl_that_is_not_a_number(tmp_path):
    """SESSION_TTL is read by the unified sessions step: its failure names the variable."""
    run = _run(["syncall"], tmp_path, SESSION_TTL="30min", CHITTY_MAX_CONCURRENT_PLATFORMS="1")
    assert run.returncode == 1, run.stderr
    assert "Traceback" not in run.stdout + run.stderr
    assert "SESSION_TTL='30min' is not a number" in run.stdout + run.stderr, run.stdout + run.stderr


def test_a_memory_limit_duckdb_refuses_is_named(tmp_path):
    """CHITTY_DUCKDB_MEMORY_LIMIT=lots failed every step with DuckDB's parser error, blamed on
    CLAUDE_HOME and CHITTY_EXPORTS_DIR ("configured by ...")."""
    err = _plain_failure(_run(["syncall"], tmp_path, CHITTY_DUCKDB_MEMORY_LIMIT="lots"), "syncall")
    assert "CHITTY_DUCKDB_MEMORY_LIMIT='lots' is not a memory size DuckDB accepts" in err, err


def test_backfill_refuses_a_range_that_ends_before_it_starts(tmp_path):
    """--from after --to ran one day of the range and said nothing."""
    run = _run(["backfill", "--from", "2026-01-05", "--to", "2026-01-03"], tmp_path)
    assert run.returncode == 2, run.stdout + run.stderr
    assert "--from 2026-01-05 is after --to 2026-01-03" in run.stdout + run.stderr
    assert "Traceback" not in run.stdout + run.stderr
    assert "raw_neon" not in run.stdout + run.stderr  # no run was started


def test_register_with_nothing_configured_says_what_to_set(tmp_path):
    """Nothing configured is nothing attempted, not a failed registration (as `check` with
    nothing to score): exit 0, and the variables to set."""
    run = _run(["register"], tmp_path)
    assert run.returncode == 0, run.stderr
    assert "not registered everywhere" not in run.stdout + run.stderr
    assert "nothing to register with" in run.stderr
    assert "CHITTY_REGISTER_URL" in run.stderr and "CHITTY_REGISTRY_URL" in run.stderr


def test_sessionsync_todos_file_problems_are_told_apart(tmp_path):
    """A missing file is not "not readable JSON (FileNotFoundError)": each problem says itself."""
    (tmp_path / "bad.json").write_text('{"todos": [')
    (tmp_path / "folder.json").mkdir()
    (tmp_path / "latin1.json").write_bytes(b'[{"content": "caf\xe9", "status": "pending"}]')
    expected = {
        "missing.json": "no such file",
        "bad.json": "not valid JSON (Expecting value, line 1 column 12)",
        "folder.json": "cannot be read (Is a directory)",
        "latin1.json": "cannot be read: not UTF-8 text",
    }
    for name, problem in expected.items():
        run = _run(["sessionsync", "--id", "s-1", "--todos", str(tmp_path / name)], tmp_path)
        assert run.returncode == 2, run.stderr
        assert f"--todos {tmp_path / name}: {problem}" in " ".join(run.stderr.split()), run.stderr
        assert "Error" not in run.stderr  # no exception class names


_POOL_SCRIPT = """
import sys
import sqlalchemy as sa
from chitty_pipelines.cli import main

sys.argv = ["chitty-sync", *sys.argv[1:]]
try:
    main()
except SystemExit:
    pass
# As the Dagster instance's SQLite storage can at the end of a command (seen in `chitty-sync demo`):
# a pooled connection whose database is already closed goes back to the pool, whose rollback fails.
engine = sa.create_engine("sqlite://", poolclass=sa.pool.QueuePool)
con = engine.connect()
con.connection.dbapi_connection.close()
con.close()
"""


@pytest.mark.parametrize("debug", [False, True])
def test_connection_pool_cleanup_errors_print_no_traceback(tmp_path: Path, debug: bool) -> None:
    """`Exception during reset or similar` and a sqlite3 traceback appeared between the demo's
    lines: SQLAlchemy's pool logged it, and Python's last-resort handler printed it."""
    env = {k: v for k, v in os.environ.items() if not any(k == s.name for s in config.ENV_VARS)}
    env.update(CHITTY_HOME=str(tmp_path / "home"), DAGSTER_HOME=str(tmp_path / "dagster"))
    args = ["--debug", "env"] if debug else ["env"]
    run = subprocess.run(
        [sys.executable, "-c", _POOL_SCRIPT, *args], env=env, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr
    assert ("Exception during reset" in run.stderr) is debug, run.stderr  # --debug still shows it
    assert ("Traceback" in run.stderr) is debug, run.stderr
