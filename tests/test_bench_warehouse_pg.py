"""Smoke test of bench/warehouse_pg: ``chitty-sync syncall`` over a tiny corpus into DuckDB and into
a PostgreSQL warehouse (equal token totals), and the Neon event store asset into both warehouses
next to a raw COPY, each contender a child process."""

from __future__ import annotations

import sys
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.warehouse_pg import run  # noqa: E402


def test_smoke_both_warehouses_hold_the_same_sync(tmp_path: Path) -> None:
    out = tmp_path / "result.json"
    r = run.main(["--smoke", "--work", str(tmp_path / "work"), "--out", str(out)])
    assert r is not None and orjson.loads(out.read_bytes())["bench"] == "warehouse_pg"
    s = r["syncall"]
    assert all(x["ok"] for x in s["runs"]["duckdb"] + s["runs"]["postgres"]), s["runs"]
    assert s["tokens_equal"] is True and s["tokens"]["sessions"] > 0 and s["tokens"]["total_tokens"] > 0
    assert s["duckdb_wall_s"]["best"] > 0 and s["postgres_wall_s"]["best"] > 0
    n = r["neon"]
    # the bench itself asserts every child wrote all 20,000 rows into the warehouse it names
    for name in ("raw_copy_binary", "raw_copy_csv", "asset_into_postgres", "asset_into_duckdb"):
        assert n[name]["rows_per_s"]["median"] > 0, name
    assert len(n["ratio_asset_into_postgres_over_raw_copy_binary"]["paired"]) == 1
