"""Issue 4: "a table larger than RAM must sync". No test can build a table larger than this
machine's RAM, so the sync gets a memory budget smaller than the table instead: DuckDB's
``memory_limit`` (CHITTY_DUCKDB_MEMORY_LIMIT) and small COPY chunks. The asset runs in a child
process so its peak RSS (``os.wait4`` ru_maxrss) is its own, next to a baseline child that runs the
same asset on a tiny table (the framework's share: Python, Dagster, DuckDB, Arrow, psycopg).
The table's COPY text is several times what the sync is allowed to grow by, and every row must
arrive with its payload intact."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg
import pytest
from neon_helpers import neon_database, sql

ROOT = Path(__file__).resolve().parents[2]
MB = 1 << 20
BUDGET = "128MB"  # DuckDB's memory_limit in the child
GROWTH_CEILING_MB = 300  # the most the big sync may add over the tiny one's peak RSS
ROWS = 200_000
PAD = 60  # md5 hex strings per payload: ~2 KB of JSON per row, ~400 MB of COPY text in all

CREATE = """
CREATE TABLE {t} (id text PRIMARY KEY, ts timestamptz NOT NULL, event_data jsonb NOT NULL);
INSERT INTO {t}
SELECT 'ev-' || lpad(i::text, 7, '0'),
       timestamptz '2024-01-01 00:00:00+00' + make_interval(secs => i),
       jsonb_build_object('seq', i, 'actor', 'user-' || (i % 97), 'blob', repeat(md5(i::text), {pad}))
FROM generate_series(1, {rows}) AS i;
"""

CHILD = """
import json, sys, warnings
warnings.simplefilter("ignore")
import dagster as dg
from chitty_pipelines.platforms.neon.assets import build_stream_asset
from chitty_pipelines.platforms.neon.resource import NeonResource
from chitty_pipelines.platforms.neon.stream_config import StreamSpec
from chitty_pipelines.warehouse.resource import WarehouseResource

table = sys.argv[1]
spec = StreamSpec(name=table, schema="public", table=table, cursor="ts")
result = dg.materialize(
    [build_stream_asset(spec)],
    resources={
        "neon": NeonResource(
            database_url=dg.EnvVar("NEON_DATABASE_URL"), chunk_rows=5_000, chunk_bytes=8 << 20
        ),
        # From the environment: CHITTY_WAREHOUSE_PATH and CHITTY_DUCKDB_MEMORY_LIMIT.
        "warehouse": WarehouseResource.from_settings(),
    },
    instance=dg.DagsterInstance.ephemeral(),
)
md = result.get_asset_materialization_events()[-1].materialization.metadata
print(json.dumps({k: getattr(v, "value", None) for k, v in md.items() if k in ("chunks", "bytes_read")}))
"""


@pytest.fixture
def dsn(postgres_dsn: str, monkeypatch: pytest.MonkeyPatch):
    yield from neon_database(postgres_dsn, monkeypatch)


def _sync_in_child(dsn: str, table: str, warehouse: Path) -> tuple[dict[str, Any], float]:
    """Runs the asset in a fresh interpreter; returns its metadata and peak RSS in MB."""
    env = {
        **os.environ,
        "NEON_DATABASE_URL": dsn,
        "CHITTY_DUCKDB_MEMORY_LIMIT": BUDGET,
        "CHITTY_WAREHOUSE_PATH": str(warehouse),
        "PYTHONPATH": str(ROOT),
    }
    proc = subprocess.Popen([sys.executable, "-c", CHILD, table], cwd=ROOT, env=env, stdout=subprocess.PIPE)
    out = proc.stdout.read() if proc.stdout else b""
    _, status, usage = os.wait4(proc.pid, 0)
    assert status == 0, f"child sync of {table} failed ({status})"
    return json.loads(out.decode().strip().splitlines()[-1]), usage.ru_maxrss / 1024  # KiB on Linux


def _warehouse_scalar(path: Path, query: str) -> Any:
    import duckdb

    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(query).fetchone()


@pytest.mark.duckdb_only("DuckDB's memory_limit and spill folder")
def test_memory_limit_setting_reaches_duckdb(tmp_path, monkeypatch):
    from chitty_pipelines.warehouse.resource import WarehouseResource

    monkeypatch.setenv("CHITTY_WAREHOUSE_PATH", str(tmp_path / "w.duckdb"))
    monkeypatch.setenv("CHITTY_DUCKDB_MEMORY_LIMIT", "100MB")
    warehouse = WarehouseResource.from_settings().get()
    assert warehouse.scalar("SELECT current_setting('memory_limit')") == "95.3 MiB"  # 100e6 bytes
    assert warehouse.scalar("SELECT current_setting('temp_directory')") == f"{tmp_path / 'w.duckdb'}.tmp"
    monkeypatch.delenv("CHITTY_DUCKDB_MEMORY_LIMIT")
    unset = WarehouseResource.from_settings().get()
    assert unset.memory_limit is None
    assert unset.scalar("SELECT current_setting('memory_limit')") != "95.3 MiB"


@pytest.mark.slow
@pytest.mark.duckdb_only("DuckDB's buffer manager under a memory budget")
def test_table_many_times_the_memory_budget_syncs_within_it(dsn, tmp_path):
    sql(
        dsn,
        CREATE.format(t="tiny", pad=PAD, rows=100),
        CREATE.format(t="big", pad=PAD, rows=ROWS),
        # The same rows' first half: how peak RSS moves when the table doubles.
        "CREATE TABLE half (LIKE big INCLUDING ALL)",
        f"INSERT INTO half SELECT * FROM big WHERE id <= 'ev-{ROWS // 2:07d}'",
    )

    _, baseline_mb = _sync_in_child(dsn, "tiny", tmp_path / "tiny.duckdb")
    half, half_mb = _sync_in_child(dsn, "half", tmp_path / "half.duckdb")
    big, peak_mb = _sync_in_child(dsn, "big", tmp_path / "big.duckdb")
    copy_mb, extra_mb = big["bytes_read"] / MB, (big["bytes_read"] - half["bytes_read"]) / MB
    growth_mb = peak_mb - baseline_mb
    print(
        f"\npeak RSS: tiny {baseline_mb:.0f} MB; half {half['bytes_read'] / MB:.0f} MB of COPY text "
        f"-> {half_mb:.0f} MB; all {copy_mb:.0f} MB in {big['chunks']} chunks -> {peak_mb:.0f} MB "
        f"(DuckDB memory_limit {BUDGET})"
    )

    # Every row, exactly once, with its JSON intact.
    wh = tmp_path / "big.duckdb"
    assert _warehouse_scalar(wh, "SELECT count(*), count(DISTINCT id) FROM raw_neon.big") == (ROWS, ROWS)
    assert _warehouse_scalar(tmp_path / "half.duckdb", "SELECT count(*) FROM raw_neon.half") == (ROWS // 2,)
    for i in (1, 4_999, 5_000, 5_001, 98_765, ROWS):
        (payload,) = _warehouse_scalar(wh, f"SELECT event_data FROM raw_neon.big WHERE id = 'ev-{i:07d}'")
        with psycopg.connect(dsn) as con:
            blob = con.execute("SELECT repeat(md5(%s::text), %s)", [i, PAD]).fetchone()[0]
        assert json.loads(payload) == {"seq": i, "actor": f"user-{i % 97}", "blob": blob}
    assert big["chunks"] >= copy_mb // 8  # 8 MB chunks: the table never sat in memory whole

    # Memory: the table is several times the budget, the sync's growth over the framework's own
    # footprint is bounded (budget + a few chunks), and doubling the table barely moves the peak.
    assert copy_mb > 2.5 * int(BUDGET.removesuffix("MB"))
    assert growth_mb < GROWTH_CEILING_MB, f"peak RSS grew {growth_mb:.0f} MB for {copy_mb:.0f} MB"
    assert peak_mb - half_mb < extra_mb / 3, f"{extra_mb:.0f} MB more rows cost {peak_mb - half_mb:.0f} MB"
