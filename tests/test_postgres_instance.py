"""dagster.yaml.example on a real PostgreSQL: `chitty-sync syncall` records its run in it, and the run,
its materializations and the `runs` table can be read back.

The shipped example is used verbatim (copied into a temporary DAGSTER_HOME); only its environment
variables point at the test cluster, exactly as a user would point them at Neon or a server.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import psycopg
import pytest
from postgres_harness import fresh_database
from psycopg.conninfo import conninfo_to_dict

from tests.local_fixtures import write_local_corpus

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "dagster.yaml.example"
LOCAL_ASSETS = {
    "raw_local/claude_sessions",
    "raw_local/claude_messages",
    "raw_local/chatgpt_conversations",
    "raw_local/chatgpt_messages",
}


def _pg_env(dsn: str) -> dict[str, str]:
    params = conninfo_to_dict(dsn)
    return {
        "DAGSTER_PG_HOST": str(params.get("host") or "127.0.0.1"),
        "DAGSTER_PG_PORT": str(params.get("port") or 5432),
        "DAGSTER_PG_DB": str(params["dbname"]),
        "DAGSTER_PG_USER": str(params.get("user") or "postgres"),
        # The throwaway cluster trusts local connections; a password is still required by the
        # example (it must come from the environment), and is ignored by a trust server.
        "DAGSTER_PG_PASSWORD": str(params.get("password") or "unused-by-trust-auth"),
    }


def test_syncall_on_the_postgres_instance_is_recorded_and_read_back(postgres_dsn, tmp_path, monkeypatch):
    # A database of its own (dagster_<hex>), so a shared CHITTY_TEST_POSTGRES_DSN server is never touched.
    with fresh_database(postgres_dsn, "dagster") as dagster_dsn:
        home = tmp_path / "dagster_home"
        home.mkdir()
        shutil.copy(EXAMPLE, home / "dagster.yaml")
        paths = write_local_corpus(tmp_path)
        pg = _pg_env(dagster_dsn)
        base = {k: v for k, v in os.environ.items() if not k.startswith(("CHITTY_", "CLAUDE_", "DAGSTER_"))}
        for name in ("NEON_DATABASE_URL", "NOTION_TOKEN", "GITHUB_TOKEN", "CLOUDFLARE_ACCOUNT_ID"):
            base.pop(name, None)
        env = {
            **base,
            **pg,
            "CHITTY_HOME": str(tmp_path / "chitty"),
            "CLAUDE_HOME": str(paths["claude"]),
            "CHITTY_EXPORTS_DIR": str(paths["exports"]),
            "DAGSTER_HOME": str(home),
        }
        run = subprocess.run(
            [sys.executable, "-m", "chitty_pipelines.cli", "syncall"],
            env=env,
            capture_output=True,
            text=True,
            timeout=240,
        )
        assert run.returncode == 0, run.stderr[-4000:]
        assert f"recorded in {home}" in run.stderr
        # Nothing fell back to SQLite files in DAGSTER_HOME.
        assert not list(home.rglob("*.db")), list(home.rglob("*.db"))

        for name, value in pg.items():
            monkeypatch.setenv(name, value)
        with dg.DagsterInstance.from_config(str(home)) as instance:
            assert type(instance.run_storage).__name__ == "PostgresRunStorage"
            assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
            # syncall = a sync_platforms run, then a sync_unified run.
            assert len(instance.get_runs(filters=dg.RunsFilter(job_name="sync_unified"))) == 1
            runs = instance.get_runs(filters=dg.RunsFilter(job_name="sync_platforms"))
            assert len(runs) == 1
            syncall = runs[0]
            assert syncall.status == dg.DagsterRunStatus.SUCCESS
            assert syncall.run_id in run.stderr

            records = instance.fetch_materializations(
                dg.AssetKey(["raw_local", "claude_sessions"]), limit=10
            ).records
            assert [r.run_id for r in records] == [syncall.run_id]
            meta = records[0].asset_materialization.metadata
            assert meta["dagster/row_count"].value == 2
            for key in LOCAL_ASSETS:
                mat = instance.get_latest_materialization_event(dg.AssetKey.from_user_string(key))
                assert mat is not None and mat.run_id == syncall.run_id, key
            # The instance settings of the example are in force.
            assert instance.get_concurrency_config().pool_config.default_pool_limit == 1

        # And straight from PostgreSQL: Dagster's schema was created and the run row is there.
        with psycopg.connect(dagster_dsn) as con:
            rows = con.execute("SELECT run_id, pipeline_name, status FROM runs").fetchall()
            assert (syncall.run_id, "sync_platforms", "SUCCESS") in rows
            tables = {
                r[0]
                for r in con.execute(
                    "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
                )
            }
            assert {"runs", "event_logs", "asset_keys", "alembic_version"} <= tables
            mats = con.execute(
                "SELECT count(*) FROM event_logs WHERE run_id = %s AND dagster_event_type = "
                "'ASSET_MATERIALIZATION'",
                (syncall.run_id,),
            ).fetchone()[0]
            assert mats >= len(LOCAL_ASSETS)
