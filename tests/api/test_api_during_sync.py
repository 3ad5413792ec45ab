"""Reads and writes while another process holds the DuckDB warehouse for writing (what a running
syncall does): API writes never wait (they go to the hub store), warehouse reads answer from the
last snapshot marked ``fresh: false``, and a server that never read the warehouse says 503 with
Retry-After instead of hanging."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from chitty_pipelines.warehouse import Warehouse
from tests.api.conftest import Server, start_server

# On PostgreSQL a writer never blocks readers (MVCC): there is no lock to answer around, and the
# server reads its warehouse database, not this file (tests/api/test_api_views.py and
# test_api_runs.py read it there).
pytestmark = pytest.mark.duckdb_only("another process holds the DuckDB file's write lock")

HOLD = textwrap.dedent(
    """
    import sys, time, duckdb
    con = duckdb.connect(sys.argv[1])
    con.execute("BEGIN TRANSACTION")
    con.execute("CREATE TABLE IF NOT EXISTS raw_local.gemini_held (x INT)")
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
    con.execute("COMMIT")
    """
)


def _seed(home: Path) -> Path:
    path = home / "warehouse.duckdb"
    wh = Warehouse(path)
    with wh.connect() as con:
        con.execute("CREATE SCHEMA IF NOT EXISTS raw_local")
        con.execute("CREATE TABLE raw_local.gemini_prompts AS SELECT range AS id FROM range(7)")
    return path


def _hold(path: Path, seconds: float) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(path), str(seconds)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def test_reads_and_writes_while_a_sync_holds_the_warehouse(tmp_path: Path) -> None:
    server = start_server(tmp_path)
    path = _seed(server.home)
    try:
        with server.client("admin") as c:
            before = c.get("/api/status").json()
            assert before["platforms"]["gemini"]["rows"] == 7 and before["warehouse"]["fresh"] is True
            holder = _hold(path, 14)
            try:
                time.sleep(2.5)  # older than the snapshot's max age: the server must try DuckDB
                t0 = time.monotonic()
                during = c.get("/api/status")
                assert during.status_code == 200 and during.json()["success"] is True
                assert during.json()["warehouse"]["fresh"] is False
                assert "locked" in during.json()["warehouse"]["reason"]
                assert during.json()["platforms"]["gemini"]["rows"] == 7
                assert time.monotonic() - t0 < 3  # waited at most WAREHOUSE_WAIT_S, not the sync
                t0 = time.monotonic()
                assert c.post("/api/session", json={"id": "during-sync"}).status_code == 201
                assert c.put("/api/session/during-sync", json={}).status_code == 200
                assert time.monotonic() - t0 < 1.5
                # many readers at once never queue behind the lock: one refreshes, the rest answer
                # from the snapshot (serialised, 12 requests would take 12 x 0.75 s)
                time.sleep(2.5)
                from concurrent.futures import ThreadPoolExecutor

                t0 = time.monotonic()
                with ThreadPoolExecutor(12) as pool:
                    codes = list(pool.map(lambda _i: c.get("/api/status").status_code, range(12)))
                assert codes == [200] * 12 and time.monotonic() - t0 < 4
                health = c.get("/health").json()
                assert health["warehouse"]["reachable"] is False and health["status"] == "healthy"
            finally:
                holder.wait(30)
            after = c.get("/api/status").json()
            assert after["warehouse"]["fresh"] is True
    finally:
        server.stop()


def test_503_when_no_snapshot_exists_yet(tmp_path: Path) -> None:
    server: Server = start_server(tmp_path)
    path = _seed(server.home)
    holder = _hold(path, 6)
    try:
        with server.client("read") as c:
            resp = c.get("/api/status")
            assert resp.status_code == 503 and resp.json()["success"] is False
            assert resp.headers["retry-after"] == "2"
            assert "locked" in resp.json()["details"]["reason"]
            assert c.get("/api/session").status_code == 200  # hub reads do not need the warehouse
    finally:
        holder.wait(30)
        server.stop()
