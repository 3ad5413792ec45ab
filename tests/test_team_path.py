"""The path a team takes after the laptop trial (README: Production instance on PostgreSQL,
Warehouse on PostgreSQL, Distributed runs on Celery, Backfills), walked with the mistakes a
newcomer makes: an instance variable left unset, a database that is down, a broker that is down,
a backfill of a platform that is not configured. Each must end in one line that names what to
fix, never a hang, a traceback or a secret."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from celery_harness import (
    CLI,
    base_env,
    broker_that_only_pongs,
    dagster_home_from_example,
    dagster_pg_env,
    free_port,
    redis_server,
    start_syncall,
    workers,
)
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


def celery_team_env(
    tmp_path: Path, warehouse: str, dagster_db: str, broker: str | None = None
) -> dict[str, str]:
    """A team machine's variables: warehouse and Dagster instance on PostgreSQL, steps on Celery."""
    env = {
        **base_env(),
        **dagster_pg_env(dagster_db),
        "CHITTY_HOME": str(tmp_path / "home"),
        "DAGSTER_HOME": str(dagster_home_from_example(tmp_path / "dagster")),
        "CLAUDE_HOME": str(claude_home(tmp_path)),
        "CHITTY_WAREHOUSE_URL": warehouse,
        "CHITTY_EXECUTOR": "celery",
    }
    if broker:
        env["CHITTY_CELERY_BROKER_URL"] = broker
    return env


def test_broker_down_leaves_no_pool_slot_behind(postgres_dsn, tmp_path):
    """CHITTY_EXECUTOR=celery with the Redis broker lost once the run has begun: the run fails
    naming the broker, and the platform's pool slot it claimed before sending the step is freed.
    Before, the failed run kept the slot and every later syncall of that platform (pool limit 1,
    dagster.yaml.example) waited for it forever, printing nothing."""
    with (
        fresh_database(postgres_dsn, prefix="wh") as warehouse,
        fresh_database(postgres_dsn, prefix="dg") as dg,
    ):
        env = celery_team_env(tmp_path, warehouse, dg)
        # Up for the CLI's pre-run ping, gone when the step is sent (a broker that is simply
        # down is named before any run starts: test_celery_executor).
        with broker_that_only_pongs() as broker:
            env["CHITTY_CELERY_BROKER_URL"] = broker
            down = cli(["syncall"], env, tmp_path)
        out = down.stdout + down.stderr
        assert down.returncode == 1, out[-3000:]
        # kombu's "Connection closed by server" alone never said where the broker is set
        assert "(is the Redis broker of CHITTY_CELERY_BROKER_URL up?)" in out, out[-3000:]
        assert held_slots(dg) == [], out[-3000:]

        # The same instance, in process this time: it must not wait for the failed run's slot.
        del env["CHITTY_EXECUTOR"]
        again = cli(["syncall"], env, tmp_path, timeout=180)
        assert again.returncode == 0, (again.stdout + again.stderr)[-3000:]


def instance_env(tmp_path: Path, **pg: str) -> dict[str, str]:
    """dagster.yaml.example in DAGSTER_HOME, as the README's production instance says."""
    return {
        **base_env(),
        "CHITTY_HOME": str(tmp_path / "home"),
        "DAGSTER_HOME": str(dagster_home_from_example(tmp_path / "dagster")),
        "CLAUDE_HOME": str(claude_home(tmp_path)),
        **pg,
    }


def test_instance_variable_left_unset_is_named(tmp_path):
    """DAGSTER_PG_PASSWORD forgotten: one line naming it and the dagster.yaml that reads it, not
    Dagster's repr of its config schema ("Field(<dagster._config.source...")."""
    env = instance_env(
        tmp_path,
        DAGSTER_PG_HOST="127.0.0.1",
        DAGSTER_PG_PORT="5432",
        DAGSTER_PG_DB="dagster",
        DAGSTER_PG_USER="dagster",
    )
    run = cli(["syncall"], env, tmp_path)
    out = run.stdout + run.stderr
    assert run.returncode == 1, out
    assert f"DAGSTER_PG_PASSWORD is not set; the Dagster instance in {tmp_path}/dagster/dagster.yaml" in out
    assert "Field(" not in out and "Traceback" not in out


def test_instance_database_unreachable_names_the_variables(tmp_path):
    """A Dagster instance database that cannot be reached (wrong port, server down, wrong
    password: the same path): the error names the DAGSTER_PG_* variables, not "too many retries
    for DB connection", and never prints the password."""
    password = "pw-team-walk-31337"
    env = instance_env(
        tmp_path,
        DAGSTER_PG_HOST="127.0.0.1",
        DAGSTER_PG_PORT=str(free_port()),  # nothing listens
        DAGSTER_PG_DB="dagster",
        DAGSTER_PG_USER="dagster",
        DAGSTER_PG_PASSWORD=password,
    )
    run = cli(["status"], env, tmp_path)
    out = run.stdout + run.stderr
    assert run.returncode == 1, out
    assert "cannot connect to the PostgreSQL of the Dagster instance in" in out, out
    assert "DAGSTER_PG_PORT" in out and "DAGSTER_PG_PASSWORD" in out
    assert "too many retries" not in out and "Traceback" not in out
    # said before Dagster's own ~12 s of retries, each printed with a traceback
    assert "Retrying failed database connection" not in out
    assert password not in out


def test_instance_database_missing_is_named_at_once(postgres_dsn, tmp_path):
    """The server answers but the instance's database does not exist: the server's own words and
    the variables to check, from one connection (no Dagster retry warnings)."""
    from psycopg.conninfo import conninfo_to_dict

    params = conninfo_to_dict(postgres_dsn)
    env = instance_env(
        tmp_path,
        DAGSTER_PG_HOST=str(params.get("host", "127.0.0.1")),
        DAGSTER_PG_PORT=str(params.get("port", "5432")),
        DAGSTER_PG_DB="no_such_dagster_db",
        DAGSTER_PG_USER=str(params.get("user", "postgres")),
        DAGSTER_PG_PASSWORD=str(params.get("password", "")),
    )
    run = cli(["syncall"], env, tmp_path)
    out = run.stdout + run.stderr
    assert run.returncode == 1, out
    assert 'database "no_such_dagster_db" does not exist' in out, out
    assert "check DAGSTER_PG_HOST" in out
    assert "Retrying failed database connection" not in out and "sync_platforms" not in out


@pytest.mark.parametrize("command", [["syncall"], ["backfill", "--from", "2026-01-01", "--to", "2026-01-02"]])
def test_warehouse_unreachable_fails_before_any_run(tmp_path, command):
    """CHITTY_WAREHOUSE_URL whose server does not answer (or refuses the password): one line
    naming the variable, before any run is recorded. Before, syncall ran both jobs, failed every
    step and blamed the platform ("claude_code failed: ... (configured by CLAUDE_HOME ...)")."""
    password = "pw-team-walk-4242"
    env = {
        **base_env(),
        "CHITTY_HOME": str(tmp_path / "home"),
        "CLAUDE_HOME": str(claude_home(tmp_path)),
        "NEON_DATABASE_URL": f"postgresql://neon:{password}@127.0.0.1:{free_port()}/neon",
        "CHITTY_WAREHOUSE_URL": f"postgresql://chitty:{password}@127.0.0.1:{free_port()}/chitty",
    }
    run = cli(command, env, tmp_path)
    out = run.stdout + run.stderr
    assert run.returncode == 1, out
    assert "cannot connect to the PostgreSQL warehouse" in out and "(CHITTY_WAREHOUSE_URL)" in out
    assert "configured by" not in out
    assert "materialized" not in out and "sync_platforms" not in out  # no run was started
    assert password not in out
    assert not (tmp_path / "home" / "dagster").exists()


def test_backfill_of_a_platform_that_is_not_configured_is_refused(tmp_path):
    """NEON_DATABASE_URL forgotten: `backfill` says so and exits 2, recording no run. Before, it
    printed "✓ raw_neon/event_store_by_day  not configured" once per day and exited 0."""
    env = {**base_env(), "CHITTY_HOME": str(tmp_path / "home"), "CLAUDE_HOME": str(claude_home(tmp_path))}
    run = cli(["backfill", "--from", "2026-01-01", "--to", "2026-01-03"], env, tmp_path)
    out = run.stdout + run.stderr
    assert run.returncode == 2, out
    assert "neon is not configured (set NEON_DATABASE_URL)" in out
    assert "✓" not in out
    assert not (tmp_path / "home" / "dagster").exists()


def test_celery_launcher_prints_no_duplicate_task_warning(tmp_path):
    """dagster-celery creates its execute_plan task once per step it sends; Celery 5.7 warned
    about the second one in the middle of syncall's output (seen on the walk: a
    DuplicateTaskNameWarning with three lines of explanation after the first platform). A
    launcher process as the CLI's: the definitions loaded with CHITTY_EXECUTOR=celery, then two
    steps sent the way dagster-celery's executor sends them (task, then its signature)."""
    script = (
        "import chitty_pipelines.definitions\n"
        "from dagster_celery.make_app import make_app\n"
        "from dagster_celery.tasks import create_task\n"
        "url = 'redis://127.0.0.1:1/0'\n"
        "app = make_app({'broker': url, 'backend': url, 'include': []})\n"
        "for _ in range(2):\n"
        "    create_task(app).si(execute_step_args_packed={}, executable_dict={})\n"
        "print('sent')\n"
    )
    env = {
        **base_env(),
        "CHITTY_HOME": str(tmp_path / "home"),
        "CHITTY_EXECUTOR": "celery",
        "CHITTY_CELERY_BROKER_URL": "redis://127.0.0.1:1/0",
    }
    run = subprocess.run(
        [sys.executable, "-c", script], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0 and "sent" in run.stdout, run.stderr[-3000:]
    assert "execute_plan" not in run.stderr, run.stderr[-3000:]


def test_warehouse_down_for_good_fails_fast_after_one_retry_window(monkeypatch):
    """PostgreSQL stopped mid-sync and not started again: the first connection retries for
    retry_s (a restart), every later one of the process fails at once. Before, each connection
    waited retry_s anew: a syncall took 6 minutes (90 s x 4 connections) to say the server was
    down. A connection that succeeds again makes outages retried again."""
    from postgres_harness import ENV_DSN, postgres_server

    from chitty_pipelines.warehouse.backend import PostgresBackend, WarehouseUnavailable

    # A cluster of its own, stopped at the end of the block: the suite's shared server
    # (CHITTY_TEST_POSTGRES_DSN, set in the --warehouse=postgres pass) stays up.
    monkeypatch.delenv(ENV_DSN, raising=False)
    attempts: list[str] = []
    real_connect = PostgresBackend._connect_once

    def counted(self):
        attempts.append(self.location)
        return real_connect(self)

    monkeypatch.setattr(PostgresBackend, "_connect_once", counted)
    with postgres_server() as dsn:
        backend = PostgresBackend(dsn, connect_timeout_s=2, retry_s=1.5)
        backend.open().close()  # reached once: a later refusal is an outage
    # The server is stopped now (the harness's cluster ends with the block).
    attempts.clear()
    with pytest.raises(WarehouseUnavailable, match="CHITTY_WAREHOUSE_URL"):
        backend.open()
    assert len(attempts) > 1  # retried: it could have been a restart
    attempts.clear()
    with pytest.raises(WarehouseUnavailable, match="CHITTY_WAREHOUSE_URL"):
        backend.open()
    assert len(attempts) == 1  # given up: no second retry window


def test_connection_lost_mid_transaction_names_the_warehouse(postgres_dsn):
    """The server goes away inside a transaction (restart, crash, admin shutdown): the error
    names the warehouse and its variable and says the transaction rolled back. Before, a step
    and syncall ended with psycopg's bare "OperationalError: the connection is lost"."""
    from postgres_harness import with_database

    from chitty_pipelines.warehouse.backend import PostgresBackend, WarehouseUnavailable, is_disconnect

    password = "pw-team-walk-777"  # the harness trusts local connections; it must still not show
    with fresh_database(postgres_dsn, prefix="lost") as dsn:
        backend = PostgresBackend(
            with_database(dsn, psycopg.conninfo.conninfo_to_dict(dsn)["dbname"], password=password), retry_s=0
        )
        with pytest.raises(WarehouseUnavailable) as caught, backend.connect() as con:
            con.execute("CREATE TABLE t (x int)")
            pid = con.execute("SELECT pg_backend_pid()").fetchone()[0]
            with psycopg.connect(postgres_dsn, autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", [pid])
            con.execute("INSERT INTO t VALUES (1)")
        message = str(caught.value)
        assert (
            f"lost the connection to the PostgreSQL warehouse {backend.location} (CHITTY_WAREHOUSE_URL)"
            in message
        )
        assert "rolled back" in message and password not in message
        assert is_disconnect(caught.value)  # reads still retry it as a restart
        with psycopg.connect(dsn) as check:  # and nothing of the cut transaction is there
            assert check.execute("SELECT to_regclass('t')").fetchone()[0] is None


def test_celery_without_a_worker_says_so_instead_of_a_silent_wait(postgres_dsn, tmp_path):
    """CHITTY_EXECUTOR=celery with the broker up and no worker started: the run waits for one (as
    documented), but syncall printed only `sync_platforms` and then nothing, for ever. It now says
    within seconds that no worker answers and how to start one; with a worker up it says nothing."""
    import os
    import signal
    import time

    with (
        redis_server() as broker,
        fresh_database(postgres_dsn, prefix="wh") as warehouse,
        fresh_database(postgres_dsn, prefix="dg") as dg,
    ):
        env = celery_team_env(tmp_path, warehouse, dg, broker)
        out = tmp_path / "syncall.out"
        proc = start_syncall(env, tmp_path, out)
        try:
            deadline = time.monotonic() + 90
            while "no Celery worker answers" not in out.read_text() and time.monotonic() < deadline:
                assert proc.poll() is None, out.read_text()[-3000:]
                time.sleep(0.5)
            text = out.read_text()
        finally:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        assert "no Celery worker answers on the broker of CHITTY_CELERY_BROKER_URL" in text, text[-3000:]
        assert "worker -Q dagster" in text, text[-3000:]

        probe = "from chitty_pipelines.ops.distributed import workers_answering; print(workers_answering())"
        with workers(1, env, tmp_path):
            answered = subprocess.run(
                [sys.executable, "-c", probe],
                env=env,
                cwd=tmp_path,
                capture_output=True,
                text=True,
                timeout=90,
            )
        assert answered.stdout.strip() == "True", answered.stderr[-3000:]


@pytest.mark.parametrize("given", ["wrong-broker-pw-4711", None], ids=["wrong", "missing"])
def test_celery_broker_password_refused_is_named_as_such(tmp_path, given):
    """A broker that refuses the password (or wants one) was reported as `...invalid
    username-password pair...; is the Redis broker up?`: the broker was up, the password wrong."""
    with redis_server(password="right-broker-pw-4242") as right:
        port = right.rsplit(":", 1)[1]
        env = {
            **base_env(),
            "CHITTY_HOME": str(tmp_path / "home"),
            "CLAUDE_HOME": str(claude_home(tmp_path)),
            "CHITTY_EXECUTOR": "celery",
            "CHITTY_CELERY_BROKER_URL": f"redis://{f':{given}@' if given else ''}127.0.0.1:{port}",
        }
        done = cli(["syncall"], env, tmp_path, timeout=120)
    said = done.stdout + done.stderr
    assert done.returncode == 1 and "check the password in CHITTY_CELERY_BROKER_URL" in said, said[-2000:]
    assert "is the Redis broker up?" not in said and "wrong-broker-pw-4711" not in said, said[-2000:]


def test_a_step_left_in_the_broker_by_a_stopped_launcher_is_not_run_later(postgres_dsn, tmp_path):
    """Ctrl-C on a celery syncall while no worker was up: the step stayed in Redis, the next
    command marked the run failed, and the first worker to start ran the step anyway, recording a
    success and its materializations in the failed run (before any live run's step)."""
    import os
    import signal
    import time

    with (
        redis_server() as broker,
        fresh_database(postgres_dsn, prefix="wh") as warehouse,
        fresh_database(postgres_dsn, prefix="dg") as dg,
    ):
        env = celery_team_env(tmp_path, warehouse, dg, broker)
        import redis

        queue = redis.Redis.from_url(broker)
        proc = start_syncall(env, tmp_path, tmp_path / "syncall.out")
        try:
            deadline = time.monotonic() + 120
            # the step is in the broker (kombu's queue key is "dagster" plus a priority suffix)
            while not any(queue.llen(k) for k in queue.keys("dagster*") if queue.type(k) == b"list"):
                assert proc.poll() is None and time.monotonic() < deadline, (
                    tmp_path / "syncall.out"
                ).read_text()
                time.sleep(0.5)
        finally:
            os.killpg(proc.pid, signal.SIGINT)  # the user's Ctrl-C
            proc.wait(timeout=60)
        cli(["status", "--no-health"], env, tmp_path, timeout=120)  # marks the stopped run failed
        with psycopg.connect(dg) as con:
            [(run_id, status)] = con.execute("SELECT run_id, status FROM runs").fetchall()
        assert status == "FAILURE"

        with workers(1, env, tmp_path) as [worker]:
            deadline = time.monotonic() + 120
            while "execute_plan" not in worker.text() or " succeeded in " not in worker.text():
                assert time.monotonic() < deadline, worker.text()[-3000:]
                time.sleep(0.5)
        with psycopg.connect(dg) as con:
            events = con.execute(
                "SELECT dagster_event_type FROM event_logs WHERE run_id = %s AND dagster_event_type IN "
                "('STEP_SUCCESS', 'ASSET_MATERIALIZATION')",
                [run_id],
            ).fetchall()
        assert events == [], events
        assert "the run ended (FAILURE) before a worker took it" in worker.text()
