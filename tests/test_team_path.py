"""The path a team takes after the laptop trial (README: Production instance on PostgreSQL,
Warehouse on PostgreSQL, Distributed runs on Celery, Backfills), walked with the mistakes a
newcomer makes: an instance variable left unset, a database that is down, a broker that is down,
a backfill of a platform that is not configured. Each must end in one line that names what to
fix, never a hang, a traceback or a secret."""

from __future__ import annotations

import subprocess
from pathlib import Path

import psycopg
import pytest
from celery_harness import CLI, base_env, dagster_home_from_example, dagster_pg_env, free_port
from postgres_harness import fresh_database

from chitty_pipelines.platforms.claude_code import seed as claude_seed

pytestmark = pytest.mark.slow


def cli(
    args: list[str], env: dict[str, str], cwd: Path, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)


def claude_home(root: Path) -> Path:
    home = root / "claude"
    claude_seed.write_sessions(home)
    return home


def held_slots(dagster_db: str) -> list[tuple]:
    """Pool slots and waiting steps the instance still records for some run."""
    with psycopg.connect(dagster_db) as con:
        slots = con.execute(
            "SELECT concurrency_key, run_id FROM concurrency_slots WHERE run_id IS NOT NULL AND NOT deleted"
        ).fetchall()
        pending = con.execute("SELECT concurrency_key, run_id FROM pending_steps").fetchall()
    return slots + pending


def test_broker_down_leaves_no_pool_slot_behind(postgres_dsn, tmp_path):
    """CHITTY_EXECUTOR=celery with the Redis broker down: the run fails naming the broker, and
    the platform's pool slot it claimed before sending the step is freed. Before, the failed run
    kept the slot and every later syncall of that platform (pool limit 1, dagster.yaml.example)
    waited for it forever, printing nothing."""
    with (
        fresh_database(postgres_dsn, prefix="wh") as warehouse,
        fresh_database(postgres_dsn, prefix="dg") as dg,
    ):
        env = {
            **base_env(),
            **dagster_pg_env(dg),
            "CHITTY_HOME": str(tmp_path / "home"),
            "DAGSTER_HOME": str(dagster_home_from_example(tmp_path / "dagster")),
            "CLAUDE_HOME": str(claude_home(tmp_path)),
            "CHITTY_WAREHOUSE_URL": warehouse,
            "CHITTY_EXECUTOR": "celery",
            "CHITTY_CELERY_BROKER_URL": f"redis://127.0.0.1:{free_port()}/0",  # nothing listens
        }
        down = cli(["syncall"], env, tmp_path)
        out = down.stdout + down.stderr
        assert down.returncode == 1, out[-3000:]
        assert "CHITTY_CELERY_BROKER_URL" in out
        assert held_slots(dg) == [], out[-3000:]

        # The same instance, in process this time: it must not wait for the failed run's slot.
        del env["CHITTY_EXECUTOR"]
        again = cli(["syncall"], env, tmp_path, timeout=180)
        assert again.returncode == 0, (again.stdout + again.stderr)[-3000:]
