"""WarehouseReads (api/store.py): a warehouse that cannot be opened answers from the last
snapshot, including the empty one taken before the first sync created the file (bench/api found
503s when the first syncall created and locked the warehouse under load)."""

from __future__ import annotations

import time
from pathlib import Path

import duckdb
import pytest

from chitty_pipelines.api.errors import ApiError
from chitty_pipelines.api.store import WarehouseReads


def _count(con) -> int:  # type: ignore[no-untyped-def]
    return con.execute("SELECT count(*) FROM t").fetchone()[0]


def test_before_the_first_sync_the_empty_snapshot_answers_while_the_file_is_unreadable(
    tmp_path: Path,
) -> None:
    reads = WarehouseReads(tmp_path / "warehouse.duckdb", wait_s=0.05, max_age_s=0.05)
    value, meta = reads.read("t", _count, default=0)
    assert (value, meta["exists"]) == (0, False)
    # the first sync has created the file and holds it: unreadable for this process
    (tmp_path / "warehouse.duckdb").write_bytes(b"not a duckdb file, as good as locked")
    time.sleep(0.06)
    value, meta = reads.read("t", _count, default=0)
    assert value == 0 and meta["fresh"] is False and meta["reason"]
    # a later read within max_age_s of the failure answers at once, without retrying the lock
    t0 = time.perf_counter()
    assert reads.read("t", _count, default=0)[0] == 0
    assert time.perf_counter() - t0 < 0.05


def test_without_any_snapshot_an_unreadable_warehouse_is_503(tmp_path: Path) -> None:
    (tmp_path / "warehouse.duckdb").write_bytes(b"garbage")
    reads = WarehouseReads(tmp_path / "warehouse.duckdb", wait_s=0.05, max_age_s=0.05)
    with pytest.raises(ApiError) as err:
        reads.read("t", _count, default=0)
    assert err.value.status == 503 and err.value.headers["Retry-After"]


def test_a_readable_warehouse_refreshes_the_snapshot(tmp_path: Path) -> None:
    path = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE TABLE t AS SELECT 1 AS x")
    reads = WarehouseReads(path, wait_s=0.05, max_age_s=0.05)
    assert reads.read("t", _count, default=0)[0] == 1
    with duckdb.connect(str(path)) as con:
        con.execute("INSERT INTO t VALUES (2)")
    time.sleep(0.06)
    value, meta = reads.read("t", _count, default=0)
    assert value == 2 and meta["fresh"] is True
