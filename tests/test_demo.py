"""`chitty-sync demo` end to end, as a user runs it: a real process, no credentials, fakes of every
platform and ChittyOS service, syncall through Dagster into a demo home; then the warehouse and
the Dagster instance it leaves behind are read back."""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from chitty_pipelines.demo.seed import EXPECTED_ROWS
from chitty_pipelines.platforms import registry

pytestmark = pytest.mark.slow

CLI = [sys.executable, "-c", "from chitty_pipelines.cli import main; main()"]


def _postgres_expected() -> bool:
    """Neon is part of the demo wherever the throwaway PostgreSQL can start."""
    if os.environ.get("CHITTY_TEST_POSTGRES_DSN") or shutil.which("pg_ctl"):
        return True
    if glob.glob("/usr/lib/postgresql/*/bin"):
        return True
    try:
        import pgserver  # type: ignore[import-not-found]  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    home = tmp_path_factory.mktemp("demo") / "home"
    # Whatever the developer's shell has configured must not matter: the demo replaces it.
    env = {**os.environ, "CHITTY_HOME": str(home.parent / "elsewhere"), "GITHUB_TOKEN": "ghp_real_user"}
    env.pop("DAGSTER_HOME", None)
    run = subprocess.run(
        [*CLI, "demo", "--home", str(home)], env=env, capture_output=True, text=True, timeout=300
    )
    return home, run


def test_demo_runs_and_says_how_to_open_the_ui(demo):
    home, run = demo
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-6000:]
    output = run.stdout + run.stderr
    assert "syncall succeeded" in output
    cli = Path(sys.executable).parent / "chitty-sync"
    assert f"DAGSTER_HOME={home / 'dagster'} CHITTY_HOME={home} {cli} ui" in output
    assert "duckdb " not in output  # the duckdb CLI is not installed; `chitty-sync sql` is
    assert (home / ".chitty-demo").exists()
    # Every platform's health probe passes against its fake (the status table).
    assert "FAIL" not in output
    # One table of the core services (the status's, with health), not a second one before it.
    assert output.count("core ChittyOS services") == 1, output
    # Where the demo's Neon is, readable: its row showed `local socket:5432***` (the conninfo
    # string read as a URL; the unparsed rest masked as the secret it contains).
    if _postgres_expected():
        neon = next(line for line in output.splitlines() if line.startswith("| neon | throwaway"))
        assert "***" not in neon and "local socket" not in neon and "/neon_demo_" in neon, neon


def test_printed_sql_command_works_as_printed(demo):
    _home, run = demo
    lines = (run.stdout + run.stderr).splitlines()
    command = next(
        line.strip() for line in lines if " sql " in line and line.strip().startswith("CHITTY_HOME=")
    )
    # the demo is a local DuckDB by design (demo_environment clears every declared variable, a
    # CHITTY_WAREHOUSE_URL too), so the printed command is for a shell without one
    drop = ("CHITTY_HOME", "DAGSTER_HOME", "CHITTY_WAREHOUSE_URL")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    proc = subprocess.run(["sh", "-c", command], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("\n") >= 2  # header and at least one project of the demo organisation


def test_every_platform_was_configured_and_synced(demo):
    home, run = demo
    assert run.returncode == 0, run.stderr[-6000:]
    summary = json.loads((home / "demo.json").read_text())
    expected = set(registry.NAMES) if _postgres_expected() else set(registry.NAMES) - {"neon"}
    assert expected <= set(summary["endpoints"]), summary
    assert {f"chittyos/{s}" for s in ("register", "registry", "identity")} <= set(summary["endpoints"])

    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        log = dict(
            con.execute(
                "SELECT platform, list(DISTINCT status) FROM ops.sync_log GROUP BY platform"
            ).fetchall()
        )
        for platform in expected:
            assert log.get(platform) == ["success"], (platform, log.get(platform))
        counts = {}
        for name in EXPECTED_ROWS:
            if name.startswith("raw_neon.") and "neon" not in expected:
                continue
            schema, table = name.split(".")
            counts[name] = con.execute(f'SELECT count(*) FROM "{schema}"."{table}"').fetchone()[0]
        assert counts == {k: v for k, v in EXPECTED_ROWS.items() if k in counts}
        assert all(v > 0 for v in counts.values())

        unified = {
            t
            for (t,) in con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'unified'"
            ).fetchall()
        }
        for table in unified:
            assert con.execute(f'SELECT count(*) FROM unified."{table}"').fetchone()[0] > 0, table
        if "projects" in unified:
            # The seeded projects resolve across platforms into one row each.
            platforms = dict(con.execute("SELECT project_key, platforms FROM unified.projects").fetchall())
            assert {"github", "notion", "drive", "claude_code"} <= set(platforms["ledger"])
            assert {"github", "notion", "drive", "claude_code"} <= set(platforms["atlas"])
            # ...and carry ChittyIDs minted by the fake id service, not local fallbacks.
            sources = con.execute("SELECT DISTINCT id_source FROM unified.projects").fetchall()
            assert sources == [("service",)]
    finally:
        con.close()


def test_runs_are_recorded_in_the_demo_dagster_home(demo, monkeypatch):
    home, run = demo
    assert run.returncode == 0, run.stderr[-6000:]
    with dg.DagsterInstance.from_config(str(home / "dagster")) as instance:
        by_job = {r.job_name: r.status for r in instance.get_runs()}
    assert by_job.get("sync_platforms") == by_job.get("sync_unified") == dg.DagsterRunStatus.SUCCESS
    # syncall lands the Neon event store incrementally; by-day runs are only for backfills.
    assert "neon_partitioned" not in by_job
    assert by_job.get("register_core_services") == dg.DagsterRunStatus.SUCCESS
