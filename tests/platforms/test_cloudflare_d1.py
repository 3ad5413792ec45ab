"""D1 through the official SDK's raw query endpoint against the v4 fake (real SQLite behind it)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chitty_pipelines.kernel.fake_server import Faults
from chitty_pipelines.platforms.cloudflare.fake import FakeCloudflare
from chitty_pipelines.platforms.cloudflare.tables import D1_KEY
from chitty_pipelines.warehouse import Warehouse
from chitty_pipelines.warehouse.resource import WarehouseResource
from tests.platforms.cloudflare_support import (
    D1,
    TOKEN,
    failure_text,
    fake,
    materialize,
    metadata,
    resource,
    rows,
)
from tests.warehouse_support import warehouse_resource_at

N_USERS = 1234  # three keyset pages of 500

SCHEMA = """
CREATE TABLE users (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, score REAL, updated_at TEXT);
CREATE TABLE tags (a TEXT, b INTEGER, note TEXT, PRIMARY KEY (a, b));
CREATE TABLE events (msg TEXT, payload BLOB);
CREATE TABLE _cf_KV (key TEXT PRIMARY KEY, value BLOB);
CREATE TABLE "weird-name" (x INTEGER);
"""


def _seed(f: FakeCloudflare, db: str = "db-1") -> None:
    f.d1_execute(db, SCHEMA)
    users = [
        (f"user {i}", i / 4, None if i % 100 == 0 else f"2026-11-{1 + i % 20:02d}T00:00:{i % 60:02d}Z")
        for i in range(1, N_USERS + 1)
    ]
    f.d1_execute(db, "INSERT INTO users (name, score, updated_at) VALUES (?, ?, ?)", users)
    f.d1_execute(db, "INSERT INTO tags VALUES (?, ?, ?)", [("x", 2, "x2"), ("x", 1, "x1"), ("a", 9, None)])
    f.d1_execute(db, "INSERT INTO tags VALUES (?, ?, ?)", [("m", i, f"m{i}") for i in range(200)])
    f.d1_execute(db, "INSERT INTO events VALUES (?, ?)", [("hello", b"\x01\x02"), ("world", None)])
    f.d1_execute(db, "INSERT INTO events VALUES (?, ?)", [(f"e{i}", None) for i in range(200)])
    f.d1_execute(db, "INSERT INTO _cf_KV VALUES ('internal', x'00')")
    f.d1_execute(db, 'INSERT INTO "weird-name" VALUES (1)')


@pytest.fixture(autouse=True)
def _token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", TOKEN)


@pytest.fixture
def d1_fake() -> Iterator[FakeCloudflare]:
    with fake() as f:
        _seed(f)
        yield f  # type: ignore[misc]


def _d1(f: FakeCloudflare, **kw: Any):
    import dagster as dg

    settings: dict[str, Any] = {
        "api_base_url": f.base_url,
        "api_token": dg.EnvVar("CLOUDFLARE_API_TOKEN"),
        "d1_database_ids": ["db-1"],
    }
    return resource(**{**settings, **kw})


def _table(wh: Warehouse) -> list[tuple[Any, ...]]:
    return rows(
        wh,
        "SELECT table_name, row_key, row, cursor_value FROM raw_cloudflare.d1_rows "
        "ORDER BY table_name, row_key",
    )


def _counts(wh: Warehouse) -> dict[str, int]:
    return dict(rows(wh, "SELECT table_name, count(*) FROM raw_cloudflare.d1_rows GROUP BY 1"))


def test_every_user_table_is_read_exactly_by_keyset(
    d1_fake: FakeCloudflare, warehouse_resource: WarehouseResource, warehouse: Warehouse
) -> None:
    result = materialize(D1, _d1(d1_fake, d1_page_rows=150), warehouse_resource)
    # sqlite_sequence and _cf_KV are internal; "weird-name" is not a plain identifier: rejected, not read.
    assert _counts(warehouse) == {"users": N_USERS, "tags": 203, "events": 202}
    table = {(t, k): (json.loads(r), c) for t, k, r, c in _table(warehouse)}
    assert table[("users", "[7]")] == (
        {"id": 7, "name": "user 7", "score": 1.75, "updated_at": "2026-11-08T00:00:07Z"},
        "2026-11-08T00:00:07Z",
    )
    assert table[("users", "[100]")] == (
        {"id": 100, "name": "user 100", "score": 25.0, "updated_at": None},
        None,
    )
    assert table[("tags", '["x",1]')] == ({"a": "x", "b": 1, "note": "x1"}, None)
    assert table[("events", "[1]")] == ({"msg": "hello", "payload": [1, 2]}, None)  # keyed by rowid
    assert not any("OFFSET" in s.upper() for s in d1_fake.d1_statements)
    assert any('("updated_at", "id") > (?, ?)' in s for s in d1_fake.d1_statements)
    assert any('("a", "b") > (?, ?) ORDER BY "a", "b" LIMIT 150' in s for s in d1_fake.d1_statements)
    assert any("(rowid) > (?) ORDER BY rowid LIMIT 150" in s for s in d1_fake.d1_statements)
    rejects = rows(warehouse, "SELECT location, reason FROM ops.rejects WHERE stream = 'd1_rows'")
    assert rejects == [
        ("weird-name", "invalid D1 identifier 'weird-name': use letters, digits and _ (max 63)")
    ]
    md = metadata(result, D1_KEY)
    assert (md["dagster/row_count"], md["tables"], md["rejects"]) == (N_USERS + 405, 3, 1)


def test_incremental_reads_only_from_the_high_water_mark(
    d1_fake: FakeCloudflare, warehouse_resource: WarehouseResource, warehouse: Warehouse
) -> None:
    cf = _d1(d1_fake)
    materialize(D1, cf, warehouse_resource)
    d1_fake.d1_statements.clear()
    md = metadata(materialize(D1, cf, warehouse_resource), D1_KEY)
    user_reads = [s for s in d1_fake.d1_statements if 'FROM "users"' in s]
    assert user_reads == [
        'SELECT * FROM "users" WHERE "updated_at" >= ? ORDER BY "updated_at", "id" LIMIT 500'
    ]
    # Only the row(s) at the mark are re-read in users; tags and events have no cursor: read in full.
    at_mark = sum(1 for i in range(1, N_USERS + 1) if i % 100 and (1 + i % 20, i % 60) == (20, 59))
    assert md["rows_read"] == at_mark + 203 + 202

    d1_fake.d1_execute(
        "db-1", "UPDATE users SET name = 'renamed', updated_at = '2026-12-01T00:00:00Z' WHERE id <= 3"
    )
    d1_fake.d1_execute("db-1", "INSERT INTO users (name, updated_at) VALUES ('late', '2026-12-02T00:00:00Z')")
    d1_fake.d1_execute("db-1", "DELETE FROM events WHERE msg = 'world'")
    materialize(D1, cf, warehouse_resource)
    assert _counts(warehouse) == {
        "users": N_USERS + 1,
        "tags": 203,
        "events": 201,
    }  # the deleted event is gone
    names = dict(
        rows(warehouse, "SELECT row_key, row->>'name' FROM raw_cloudflare.d1_rows WHERE table_name='users'")
    )
    assert [names["[1]"], names["[2]"], names["[3]"], names[f"[{N_USERS + 1}]"]] == ["renamed"] * 3 + ["late"]


def test_twenty_percent_faults_give_the_same_rows(
    warehouse_resource: WarehouseResource, tmp_path: Path
) -> None:
    with fake() as clean_fake:
        _seed(clean_fake)
        materialize(D1, _d1(clean_fake, d1_page_rows=100), warehouse_resource)
    clean = _table(warehouse_resource.get())
    with fake(faults=Faults(rate=0.2, retry_after_s=0.01, seed=5)) as flaky:
        _seed(flaky)
        other = warehouse_resource_at(tmp_path / "faulty.duckdb", lock_timeout_s=60)
        materialize(D1, _d1(flaky, d1_page_rows=100, api_attempts=12), other)
        faulted = sum(1 for _m, _p, status in flaky.log if status >= 429)
    assert faulted >= 3 and len(clean) == N_USERS + 405
    assert _table(other.get()) == clean


def test_sql_error_is_clear_and_auth_error_names_the_variable(
    d1_fake: FakeCloudflare, warehouse_resource: WarehouseResource, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = materialize(
        D1, _d1(d1_fake, d1_database_ids=["db-404"]), warehouse_resource, raise_on_error=False
    )
    assert "code 7404: The database db-404 could not be found" in failure_text(missing)
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", "revoked-token-xyz")
    denied = materialize(D1, _d1(d1_fake), warehouse_resource, raise_on_error=False)
    text = failure_text(denied)
    assert "Check CLOUDFLARE_API_TOKEN" in text and "revoked-token-xyz" not in text


def test_fake_query_endpoint_answers_the_sdk(d1_fake: FakeCloudflare) -> None:
    """The fake's ``query`` endpoint (objects per row) as the official SDK parses it."""
    from cloudflare import Cloudflare

    client = Cloudflare(api_token=TOKEN, base_url=d1_fake.base_url, max_retries=0)
    page = client.d1.database.query(
        "db-1", account_id="acc123", sql="SELECT a, b FROM tags WHERE a = ? ORDER BY b", params=["x"]
    )
    assert [r.results for r in page.result] == [[{"a": "x", "b": 1}, {"a": "x", "b": 2}]]


def test_success_false_with_http_200_is_an_error(warehouse_resource: WarehouseResource) -> None:
    """The v4 API can fail with HTTP 200 and ``success: false``; that must not pass as no rows."""
    from chitty_pipelines.kernel.fake_server import Request, Response

    class Flaky(FakeCloudflare):
        def _d1_query(self, req: Request, *, raw: bool) -> Response:
            body = {"success": False, "errors": [{"code": 7500, "message": "D1 is busy"}], "result": None}
            return Response(200, body)

    with Flaky(account_id="acc123", token=TOKEN) as f:
        f.d1_execute("db-1", "CREATE TABLE t (id INTEGER PRIMARY KEY)")
        result = materialize(D1, _d1(f), warehouse_resource, raise_on_error=False)
    assert "HTTP 200, code 7500: D1 is busy" in failure_text(result)
