"""Concurrency pools apply: each platform's step declares ``pool=<platform>``, and with the
instance's pool limit (dagster.yaml.example: ``concurrency.pools.default_limit: 1``) two runs of
one platform never execute its step at the same time, while different platforms still may.

The instance's storage is PostgreSQL (dagster-postgres, on a throwaway database), as in
dagster.yaml.example: Dagster's SQLite storage cannot claim a pool slot atomically (SQLite ignores
``FOR UPDATE SKIP LOCKED``), so two runs whose steps start in the same instant may both get the
one slot there (seen 1 time in 3 on a loaded machine); PostgreSQL's row locks make the limit hold."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import dagster as dg
import psycopg
import pytest
from postgres_harness import fresh_database

from chitty_pipelines.kernel.fake_server import Faults
from chitty_pipelines.platforms.github.assets import GITHUB_ASSETS
from chitty_pipelines.platforms.github.fake import GitHubFake
from chitty_pipelines.platforms.github.seed import DATA_REPO, seed_example

TOKEN = "ghp_fake_token"


@pytest.fixture
def slow_github() -> Iterator[GitHubFake]:
    # Every answer takes 40 ms: one sync is ~1 s of requests, long enough for two runs to overlap.
    with GitHubFake(tokens={TOKEN: "octo-user"}, faults=Faults(latency_s=0.04)) as fake:
        seed_example(fake)
        yield fake  # type: ignore[misc]


@pytest.fixture
def dagster_db(postgres_dsn: str) -> Iterator[dict[str, str]]:
    """A database for the Dagster instance (runs, events, pool slots)."""
    with fresh_database(postgres_dsn, prefix="dagster") as dsn:
        yield psycopg.conninfo.conninfo_to_dict(dsn)  # type: ignore[misc]


def _home(tmp_path: Path, limit: int, db: dict[str, str]) -> Path:
    home = tmp_path / f"dagster-limit-{limit}"
    home.mkdir()
    (home / "dagster.yaml").write_text(
        "telemetry:\n  enabled: false\n"
        "storage:\n  postgres:\n    postgres_db:\n"
        f"      username: {db['user']}\n      hostname: {db['host']}\n      port: {db['port']}\n"
        f"      db_name: {db['dbname']}\n      password: '{db.get('password', '')}'\n"
        "      scheme: postgresql+psycopg2\n"  # as dagster.yaml.example (see there why)
        f"concurrency:\n  pools:\n    default_limit: {limit}\n"
    )
    # Create the instance's tables and the pool's limit row once, before two processes would race
    # to create them (two first uses of a pool at once: one INSERT fails and Dagster's fallback
    # UPDATE then runs in the aborted PostgreSQL transaction, failing that run's step).
    with dg.DagsterInstance.from_config(str(home)) as instance:
        instance.get_runs(limit=1)
        instance.get_asset_keys()
        instance.event_log_storage.initialize_concurrency_limit_to_default("github")
    return home


def _step_windows(instance: dg.DagsterInstance, run_ids: list[str]) -> list[tuple[datetime, datetime]]:
    """(start, end) of the GitHub step in each run, from the events Dagster stored."""
    windows = []
    for run_id in run_ids:
        times: dict[str, float] = {}
        for record in instance.get_records_for_run(run_id, limit=10_000).records:
            event = record.event_log_entry.dagster_event
            if event is not None and event.step_key and "github" in event.step_key:
                kind = event.event_type_value
                if kind in ("STEP_START", "STEP_SUCCESS"):
                    times[kind] = record.event_log_entry.timestamp
        windows.append(
            (datetime.fromtimestamp(times["STEP_START"]), datetime.fromtimestamp(times["STEP_SUCCESS"]))
        )
    return windows


_RUN_ONE = """
import os
import sys
import time
import dagster as dg
from chitty_pipelines.platforms.github.assets import GITHUB_ASSETS
from chitty_pipelines.platforms.github.resource import GitHubResource
from chitty_pipelines.warehouse.resource import WarehouseResource

api_url, warehouse, token, data_repo, go = sys.argv[1:6]
resources = {
    "github": GitHubResource(token=token, base_url=api_url, owners=["acme"], data_repository=data_repo,
                             requests_per_second=0, retry_max_wait_s=0.01),
    # the PostgreSQL warehouse with --warehouse=postgres, else the DuckDB file
    "warehouse": WarehouseResource(path=warehouse, url=os.environ.get("CHITTY_WAREHOUSE_URL")),
}
selection = dg.AssetSelection.assets(*GITHUB_ASSETS).without_checks()
job = dg.define_asset_job("github_only", selection=selection)
defs = dg.Definitions(assets=GITHUB_ASSETS, jobs=[job], resources=resources)
while not os.path.exists(go):  # imported and ready: the test says when to start
    time.sleep(0.01)
with dg.DagsterInstance.get() as instance:
    result = defs.resolve_job_def("github_only").execute_in_process(
        instance=instance, tags={"chitty/full_refresh": "true"}
    )
print(result.run_id)
sys.exit(0 if result.success else 1)
"""


def _two_runs_at_once(home: Path, fake: GitHubFake, tmp_path: Path) -> list[str]:
    """Two processes (two CLI invocations, a schedule and a manual run...) start one sync each:
    the second while the first one's step is syncing (it has asked the fake for something).

    Not both in the same instant: two claims of the one slot within a few milliseconds can both
    succeed in Dagster 1.13 (its claim reads the slot and takes it in separate autocommit
    statements; README, Pools), and the test is about the pool, not that race."""
    gos = [tmp_path / "go-0", tmp_path / "go-1"]
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    warehouse = str(tmp_path / "warehouse.duckdb")
    argv = [sys.executable, "-c", _RUN_ONE, fake.api_url, warehouse, TOKEN, DATA_REPO]
    procs = [
        subprocess.Popen([*argv, str(go)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for go in gos
    ]
    fake.reset_counters()
    gos[0].touch()
    deadline = time.monotonic() + 240
    while fake.total_requests == 0 and procs[0].poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    gos[1].touch()
    run_ids = []
    for proc in procs:
        out, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, err[-3000:]
        run_ids.append(out.strip().splitlines()[-1])
    return run_ids


def _overlap(windows: list[tuple[datetime, datetime]]) -> float:
    (a0, a1), (b0, b1) = sorted(windows)
    return (min(a1, b1) - max(a0, b0)).total_seconds()


@pytest.mark.timeout(600)
def test_two_runs_of_one_platform_never_overlap_with_a_pool_limit(
    slow_github: GitHubFake, tmp_path: Path, dagster_db: dict[str, str]
) -> None:
    step = next(iter(GITHUB_ASSETS)).op
    assert step.pool == "github"  # declared by the kernel's factory for every platform
    home = _home(tmp_path, limit=1, db=dagster_db)
    run_ids = _two_runs_at_once(home, slow_github, tmp_path)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        windows = _step_windows(instance, run_ids)
    assert _overlap(windows) <= 0, f"the GitHub steps of two runs overlapped: {windows}"


@pytest.mark.timeout(600)
def test_without_the_limit_the_same_runs_do_overlap(
    slow_github: GitHubFake, tmp_path: Path, dagster_db: dict[str, str]
) -> None:
    """The control: with room for two, the same two runs execute the step at the same time, so
    the test above measures the pool and not an accident of timing."""
    home = _home(tmp_path, limit=2, db=dagster_db)
    run_ids = _two_runs_at_once(home, slow_github, tmp_path)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        windows = _step_windows(instance, run_ids)
    assert _overlap(windows) > 0, f"expected overlapping steps without a limit: {windows}"
