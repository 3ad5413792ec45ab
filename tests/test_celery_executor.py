"""Distributed runs on Celery (issue 13): ``chitty-sync syncall`` of the demo organisation with
CHITTY_EXECUTOR=celery, a real redis-server as broker, two Celery workers in empty folders of their
own (only the installed code and environment variables), the warehouse and the Dagster instance
(dagster.yaml.example, dagster-postgres) on a throwaway PostgreSQL.

The tables must be identical to an in-process run's; a worker killed mid-run must leave a run that
finishes or fails clearly, and a re-run must leave exactly the clean run's rows.

redis-server comes from Debian (scripts/setup-redis; .ci/run installs it). Without it these tests
FAIL saying so: a skipped test would hide that the distributed path was never exercised.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from celery_harness import (
    CeleryUnavailable,
    Worker,
    base_env,
    dagster_home_from_example,
    dagster_pg_env,
    differing_columns,
    dump_warehouse,
    free_port,
    redis_server,
    start_syncall,
    syncall,
    workers,
)
from postgres_harness import PostgresUnavailable, fresh_database, postgres_server

from chitty_pipelines.demo import demo_stack, prepare_home

pytestmark = pytest.mark.slow

# A step whose worker died goes to the other worker after this many seconds (acks_late; see
# chitty_pipelines/ops/distributed.py). Above the longest demo step on a loaded 2-core machine.
VISIBILITY_S = 40


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    try:
        with redis_server() as url:
            yield url
    except CeleryUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="module")
def pg() -> Iterator[str]:
    try:
        with postgres_server() as dsn:
            yield dsn
    except PostgresUnavailable as exc:
        pytest.fail(f"no PostgreSQL for the Celery test: {exc}", pytrace=False)


@pytest.fixture(scope="module")
def demo_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """The demo organisation's fakes, seeded; the environment that points at them."""
    home = tmp_path_factory.mktemp("celery-demo") / "home"
    prepare_home(home)
    with demo_stack(home) as stack:
        yield dict(stack.env)


@pytest.fixture(scope="module")
def clean_run(pg: str, demo_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """The reference: syncall in the CLI's own processes (no Celery) into its own database."""
    root = tmp_path_factory.mktemp("inprocess")
    with fresh_database(pg, prefix="clean") as warehouse:
        env = {
            **base_env(),
            **demo_env,
            "CHITTY_HOME": str(root / "home"),
            "DAGSTER_HOME": str(root / "dagster"),
            "CHITTY_WAREHOUSE_URL": warehouse,
            "CHITTY_MAX_CONCURRENT_PLATFORMS": "1",  # every step in the CLI's own process
        }
        run = syncall(env, root, timeout=600)
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
        yield dump_warehouse(warehouse)


@contextlib.contextmanager
def celery_env(pg: str, redis_url: str, demo_env: dict[str, str], root: Path) -> Iterator[dict[str, Any]]:
    """A fresh warehouse database and a fresh dagster-postgres instance database."""
    with fresh_database(pg, prefix="wh") as warehouse, fresh_database(pg, prefix="dagster") as dagster_db:
        env = {
            **base_env(),
            **demo_env,
            **dagster_pg_env(dagster_db),
            "CHITTY_HOME": str(root / "launcher-home"),
            "DAGSTER_HOME": str(dagster_home_from_example(root / "launcher-dagster")),
            "CHITTY_WAREHOUSE_URL": warehouse,
            "CHITTY_EXECUTOR": "celery",
            "CHITTY_CELERY_BROKER_URL": redis_url,
            "CHITTY_CELERY_VISIBILITY_TIMEOUT": str(VISIBILITY_S),
        }
        yield {"env": env, "warehouse": warehouse, "dagster_db": dagster_db}


def step_hosts(dagster_db: str) -> dict[str, set[str]]:
    """Which Celery worker executed which step, from the events the instance recorded."""
    hosts: dict[str, set[str]] = {}
    with psycopg.connect(dagster_db) as con:
        try:
            rows = con.execute(
                "SELECT step_key, event FROM event_logs WHERE dagster_event_type = 'ENGINE_EVENT' "
                "AND event LIKE '%%in celery worker%%'"
            ).fetchall()
        except psycopg.errors.UndefinedTable:  # the first run has not created the instance yet
            return {}
    for step, event in rows:
        for name in ("worker1", "worker2", "worker3"):
            if f"{name}@" in event:
                hosts.setdefault(name, set()).add(step)
    return hosts


def assert_same_tables(got: dict, want: dict) -> None:
    assert set(got) == set(want), set(got) ^ set(want)
    differ = {
        t: (len(got[t]) - 1, len(want[t]) - 1, differing_columns(got[t], want[t]))
        for t in want
        if got[t] != want[t]
    }
    assert not differ, f"tables that differ (rows got, rows want, columns): {differ}"
    assert sum(len(rows) for rows in want.values()) > 50  # not a comparison of empty tables


def test_syncall_on_two_celery_workers_gives_the_in_process_tables(
    clean_run: dict, pg: str, redis_url: str, demo_env: dict[str, str], tmp_path: Path
) -> None:
    with celery_env(pg, redis_url, demo_env, tmp_path) as ctx, workers(2, ctx["env"], tmp_path / "w"):
        run = syncall(ctx["env"], tmp_path, timeout=600)
        assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
        output = run.stdout + run.stderr
        assert "sync_platforms succeeded" in output and "sync_unified succeeded" in output, output[-4000:]
        assert_same_tables(dump_warehouse(ctx["warehouse"]), clean_run)
        hosts = step_hosts(ctx["dagster_db"])
        # Both workers executed steps, and every step that started ran in a worker.
        assert set(hosts) == {"worker1", "worker2"}, hosts
        with psycopg.connect(ctx["dagster_db"]) as con:
            runs = con.execute("SELECT status FROM runs").fetchall()
            started = {
                step
                for (step,) in con.execute(
                    "SELECT DISTINCT step_key FROM event_logs WHERE dagster_event_type = 'STEP_START'"
                )
            }
        assert sorted(s for (s,) in runs) == ["SUCCESS", "SUCCESS"]
        assert len(started) >= 10 and started <= set().union(*hosts.values()), started


def _wait_for_running_step(pair: list[Worker], dagster_db: str, timeout: float) -> tuple[Worker, str]:
    """The first worker seen executing a step (its task's "Executing steps ... in celery worker"
    event is in the instance), and that task's id from the worker's log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        hosts = step_hosts(dagster_db)
        for worker in pair:
            if worker.name in hosts:
                ids = re.findall(r"Task execute_plan\[([0-9a-f-]+)\] received", worker.text())
                assert ids, worker.text()[-2000:]
                return worker, ids[-1]
        time.sleep(0.1)
    raise AssertionError("no worker started a step within the timeout")


def test_a_worker_killed_mid_run_loses_and_duplicates_nothing(
    clean_run: dict, pg: str, redis_url: str, demo_env: dict[str, str], tmp_path: Path
) -> None:
    with celery_env(pg, redis_url, demo_env, tmp_path) as ctx, workers(2, ctx["env"], tmp_path / "w") as pair:
        proc = start_syncall(ctx["env"], tmp_path, tmp_path / "syncall.log")
        try:
            victim, task_id = _wait_for_running_step(pair, ctx["dagster_db"], timeout=180)
            assert proc.poll() is None, "syncall ended before a worker could be killed"
            victim.kill()  # the worker and its pool process, mid-step: no chance to clean up
            survivor = next(w for w in pair if w is not victim)
            rc = proc.wait(timeout=600)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
        output = (tmp_path / "syncall.log").read_text(errors="replace")
        if rc == 0:
            # The killed worker's step went to the survivor (after the visibility timeout).
            assert "sync_platforms succeeded" in output, output[-4000:]
            assert f"Task execute_plan[{task_id}] succeeded" in survivor.text()
        else:
            # A failure must say why (a ✗ line with the cause), not hang or end silently.
            assert "✗" in output and "failed" in output, output[-4000:]
        # A re-run on the surviving worker completes and leaves exactly the clean run's rows.
        again = syncall(ctx["env"], tmp_path, timeout=600)
        assert again.returncode == 0, again.stdout[-4000:] + again.stderr[-4000:]
        assert_same_tables(dump_warehouse(ctx["warehouse"]), clean_run)
        # and the first run's outcome is on record in the instance, whichever it was
        with psycopg.connect(ctx["dagster_db"]) as con:
            statuses = [s for (s,) in con.execute("SELECT status FROM runs ORDER BY create_timestamp")]
        assert statuses[-2:] == ["SUCCESS", "SUCCESS"] and "STARTED" not in statuses, statuses


def test_a_broker_that_is_down_fails_the_run_saying_so(tmp_path: Path) -> None:
    """No Redis where CHITTY_CELERY_BROKER_URL points: the CLI says so before any run starts
    (each run used to spend ~20 s in Celery's retries, then fail outside any step) and never
    prints the broker's password."""
    env = {
        **base_env(),
        "CHITTY_HOME": str(tmp_path / "home"),
        "CLAUDE_HOME": str(tmp_path / "no-claude"),
        "CHITTY_EXECUTOR": "celery",
        "CHITTY_CELERY_BROKER_URL": f"redis://:broker-pass-0000@127.0.0.1:{free_port()}/0",
    }
    run = syncall(env, tmp_path, timeout=300)
    output = run.stdout + run.stderr
    assert run.returncode == 1, output[-3000:]
    assert "cannot reach the Celery broker of CHITTY_CELERY_BROKER_URL (127.0.0.1:" in output, output[-3000:]
    assert "sync_platforms" not in output and "sync_unified" not in output  # no run was started
    assert "broker-pass-0000" not in output
