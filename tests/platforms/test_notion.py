"""Notion: notion-client against the fake API server, through Dagster's real runtime."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import dagster as dg
import pytest

from chitty_pipelines.kernel.fake_server import Faults
from chitty_pipelines.platforms.notion import assets as notion_assets
from chitty_pipelines.platforms.notion.fake import FakeNotion, rich
from chitty_pipelines.platforms.notion.health import probe
from chitty_pipelines.platforms.notion.resource import NotionApiError, NotionAuthError, NotionResource
from chitty_pipelines.warehouse import Warehouse
from chitty_pipelines.warehouse.resource import WarehouseResource
from tests.platforms.notion_seed import (
    NOTES_DB,
    NOTES_DS,
    PAGE_A,
    PAGE_B,
    PEER,
    TASKS_DB,
    TASKS_DS,
    USER,
    note,
    seed,
)
from tests.warehouse_support import warehouse_resource_at

VERSIONS = ["2025-09-03", "2022-06-28"]
TOKEN = "secret_NtnTok3n_do_not_leak_4242"


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.fixture
def fake() -> Iterator[FakeNotion]:
    server = FakeNotion(token=TOKEN)
    seed(server)
    with server:
        yield server


def resource(fake: FakeNotion, version: str = "2025-09-03", **kw: Any) -> NotionResource:
    settings: dict[str, Any] = {
        "token": TOKEN,
        "base_url": fake.base_url,
        "api_version": version,
        "rate_per_s": 0,  # the pacer is tested on its own; keep these runs fast
        "evidence_database_id": TASKS_DB.replace("-", ""),  # ids without dashes are normalised
        "max_retry_wait_s": 0.05,
        **kw,
    }
    return NotionResource(**settings)


def sync(
    notion: NotionResource,
    warehouse_resource: WarehouseResource,
    *,
    full_refresh: bool = False,
    checks: bool = False,
) -> dg.ExecuteInProcessResult:
    # The checks run in notion_sync's own step; without ``checks`` the run selects none of them.
    return dg.materialize(
        [notion_assets.notion_sync],
        selection=None if checks else dg.AssetSelection.all().without_checks(),
        resources={"notion": notion, "warehouse": warehouse_resource},
        run_config={"ops": {"notion_sync": {"config": {"full_refresh": full_refresh}}}},
        raise_on_error=False,
    )


def metadata(result: dg.ExecuteInProcessResult, name: str) -> dict[str, Any]:
    for event in result.get_asset_materialization_events():
        if event.asset_key == dg.AssetKey(["raw_notion", name]):
            return {k: v.value for k, v in event.materialization.metadata.items()}
    raise AssertionError(f"no materialization for {name}")


def rows(warehouse: Warehouse, sql: str) -> list[dict[str, Any]]:
    return warehouse.query(sql).to_dict("records")


def dump(warehouse: Warehouse) -> dict[str, list[tuple]]:
    """Every notion table's content (for comparing two runs)."""
    tables = warehouse.query(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'raw_notion' ORDER BY 1"
    )["table_name"]
    out = {}
    for name in tables:
        df = warehouse.query(f'SELECT * FROM raw_notion."{name}" ORDER BY 1')
        out[name] = [tuple(map(repr, r)) for r in df.itertuples(index=False)]
    return out


# --- full sync: exact tables ------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
def test_full_sync_exact_tables_for_every_property_type(
    fake: FakeNotion, warehouse_resource: WarehouseResource, warehouse: Warehouse, version: str
) -> None:
    result = sync(resource(fake, version), warehouse_resource)
    assert result.success
    table_ids = {"2025-09-03": (TASKS_DS, NOTES_DS), "2022-06-28": (TASKS_DB, NOTES_DB)}[version]
    notes_table = ("ds_" if version == "2025-09-03" else "db_") + table_ids[1].replace("-", "")

    ev = rows(warehouse, "SELECT * FROM raw_notion.evidence ORDER BY page_id")
    assert [r["page_id"] for r in ev] == [PAGE_A, PAGE_B]
    a, b = ev
    assert list(a) == [
        "page_id", "table_id", "database_id", "created_time", "last_edited_time", "url", "is_deleted",
        "name", "p_1st_review", "attachments", "created", "creator", "done", "due_start", "due_end", "edited",
        "editor", "email", "estimate", "notes", "owner", "phone", "place", "priority", "related", "score",
        "state", "tags", "ticket", "total", "p_url",
    ]  # fmt: skip
    assert (a["table_id"], a["database_id"], a["is_deleted"]) == (table_ids[0], TASKS_DB, False)
    assert a["url"] == "https://app.notion.com/p/" + PAGE_A.replace("-", "")
    assert a["created_time"] == utc("2025-02-01T10:00:00") and a["last_edited_time"] == utc(
        "2025-03-01T09:08:00"
    )
    assert (a["name"], a["notes"], a["estimate"], a["priority"], a["state"]) == (
        "Write the sync", "first second", 3.0, "High", "In progress"
    )  # fmt: skip
    assert list(a["tags"]) == ["etl", "notion"]
    assert a["due_start"] == utc("2025-03-01T00:00:00") and a["due_end"] == utc("2025-03-05T10:30:00")
    assert list(a["owner"]) == [PEER] and list(a["related"]) == [PAGE_B]
    assert json.loads(a["total"]) == 7.5 and json.loads(a["score"]) == 6.0
    assert list(a["attachments"]) == ["https://files.example/spec.pdf", "https://example.com"]
    assert (a["done"], a["p_url"], a["email"], a["phone"], a["ticket"]) == (
        True, "https://chitty.cc", "ada@example.com", "+1 555 0100", "TSK-42"
    )  # fmt: skip
    assert a["created"] == utc("2025-02-01T10:00:00") and a["edited"] == utc("2025-03-01T09:08:00")
    assert (a["creator"], a["editor"], a["p_1st_review"]) == (USER, USER, "verified")
    # An unknown property type is kept, as JSON.
    assert json.loads(a["place"]) == {"lat": 41.88, "lon": -87.63, "name": "Chicago"}

    assert (b["name"], b["notes"], b["priority"], b["state"], b["email"], b["p_url"]) == (
        "Empty one",
        *[None] * 5,
    )
    assert b["estimate"] != b["estimate"]  # NaN: SQL NULL in a DOUBLE column through pandas
    assert list(b["tags"]) == [] and list(b["owner"]) == [] and b["done"] is False
    assert b["place"] is None and b["score"] is None and json.loads(b["total"]) == []
    assert b["ticket"] == "TSK-43" and b["p_1st_review"] == "unverified"

    pages = rows(warehouse, "SELECT * FROM raw_notion.pages ORDER BY page_id")
    assert len(pages) == 7
    assert [p["title"] for p in pages] == ["Write the sync", "Empty one", *(f"note {i}" for i in range(5))]
    assert {p["stream"] for p in pages[:2]} == {"evidence"} and {p["stream"] for p in pages[2:]} == {"pages"}
    props = json.loads(pages[0]["properties"])
    assert props["Due"] == {"start": "2025-03-01", "end": "2025-03-05T12:30:00.000+02:00", "time_zone": None}
    assert json.loads(pages[0]["property_types"])["Place"] == "place"
    assert json.loads(pages[0]["raw"])["id"] == PAGE_A

    dbs = rows(warehouse, "SELECT table_id, database_id, kind, stream, title, typed_table, page_count "
                          "FROM raw_notion.databases ORDER BY title")  # fmt: skip
    kind = "data_source" if version == "2025-09-03" else "database"
    assert dbs == [
        {"table_id": table_ids[1], "database_id": NOTES_DB, "kind": kind, "stream": "pages", "title": "Notes",
         "typed_table": f"raw_notion.{notes_table}", "page_count": 5},
        {"table_id": table_ids[0], "database_id": TASKS_DB, "kind": kind, "stream": "evidence",
         "title": "Tasks", "typed_table": "raw_notion.evidence", "page_count": 2},
    ]  # fmt: skip
    notes = rows(warehouse, f"SELECT page_id, title FROM raw_notion.{notes_table} ORDER BY page_id")
    assert [n["title"] for n in notes] == [f"note {i}" for i in range(5)]

    md = metadata(result, "pages")
    assert (md["dagster/row_count"], md["rows_written"], md["rejects"], md["tables_synced"]) == (7, 7, 0, 2)
    assert metadata(result, "evidence")["dagster/row_count"] == 2
    assert metadata(result, "cases")["configured"] is False
    log = rows(warehouse, "SELECT asset, status, rows_written FROM ops.sync_log ORDER BY asset")
    assert log == [
        {"asset": "raw_notion/cases", "status": "not_configured", "rows_written": 0},
        {"asset": "raw_notion/databases", "status": "success", "rows_written": 2},
        {"asset": "raw_notion/evidence", "status": "success", "rows_written": 2},
        {"asset": "raw_notion/pages", "status": "success", "rows_written": 7},
    ]
    assert fake.versions_seen == {version: fake.total_requests}


# --- incremental --------------------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
def test_no_change_resync_makes_one_query_per_table_and_writes_nothing(
    fake: FakeNotion, warehouse_resource: WarehouseResource, warehouse: Warehouse, version: str
) -> None:
    notion = resource(fake, version)
    assert sync(notion, warehouse_resource).success
    before = dump(warehouse)
    fake.reset_counters()
    result = sync(notion, warehouse_resource)
    assert result.success
    queries = {k: n for k, n in fake.requests.items() if k.endswith("/query")}
    assert len(queries) == 2 and set(queries.values()) == {1}
    assert all('"on_or_after"' not in k for k in queries)  # the filter travels in the body
    # Only the pages at each cursor's minute come back (Notion's minute precision), none is written.
    assert set(fake.served_pages) == {PAGE_B, "bbbbbbbb-0000-4000-8000-000000000004"}
    assert metadata(result, "pages")["rows_written"] == 0
    assert dump(warehouse) == before


def test_k_edited_pages_are_picked_up_and_nothing_else_is_reread(
    fake: FakeNotion, warehouse_resource: WarehouseResource, warehouse: Warehouse
) -> None:
    notion = resource(fake, page_size=2)  # several pages per listing: the cursor must still hold
    assert sync(notion, warehouse_resource).success
    edited = ["bbbbbbbb-0000-4000-8000-000000000001", "bbbbbbbb-0000-4000-8000-000000000003", PAGE_A]
    for page_id in edited[:2]:
        fake.edit_page(page_id, note(f"edited {page_id[-1]}"), "2025-05-02T08:00:00.000Z")
    fake.edit_page(PAGE_A, {"Estimate": {"type": "number", "number": 8.0}}, "2025-05-02T08:00:00.000Z")
    fake.add_page(
        NOTES_DB,
        note("brand new"),
        "2025-05-02T08:01:00.000Z",
        page_id="cccccccc-0000-4000-8000-000000000001",
    )
    fake.reset_counters()

    result = sync(notion, warehouse_resource)
    assert result.success
    boundary = {PAGE_B, "bbbbbbbb-0000-4000-8000-000000000004"}  # pages at the old cursors' minutes
    assert set(fake.served_pages) == {*edited, "cccccccc-0000-4000-8000-000000000001"} | boundary
    assert metadata(result, "pages")["rows_written"] == 4
    titles = dict(warehouse.query("SELECT page_id, title FROM raw_notion.pages").itertuples(index=False))
    assert titles["bbbbbbbb-0000-4000-8000-000000000001"] == "edited 1"
    assert titles["cccccccc-0000-4000-8000-000000000001"] == "brand new" and len(titles) == 8
    assert warehouse.scalar(f"SELECT estimate FROM raw_notion.evidence WHERE page_id = '{PAGE_A}'") == 8.0
    cursor = warehouse.cursors("notion", "pages")[NOTES_DS]
    assert cursor["last_edited_time"] == "2025-05-02T08:01:00.000Z"
    assert cursor["ids_at"] == ["cccccccc-0000-4000-8000-000000000001"]

    # And the run after that reads only the new boundary again.
    fake.reset_counters()
    assert metadata(sync(notion, warehouse_resource), "pages")["rows_written"] == 0
    assert set(fake.served_pages) == {"cccccccc-0000-4000-8000-000000000001", PAGE_A}


def test_full_refresh_drops_trashed_pages_and_schema_change_rebuilds_typed_table(
    fake: FakeNotion, warehouse_resource: WarehouseResource, warehouse: Warehouse
) -> None:
    notion = resource(fake)
    assert sync(notion, warehouse_resource).success
    fake.pages["bbbbbbbb-0000-4000-8000-000000000000"].in_trash = True
    fake.data_sources[NOTES_DS].properties["Rating"] = {
        "id": "r1",
        "name": "Rating",
        "type": "number",
        "number": {},
    }
    fake.edit_page("bbbbbbbb-0000-4000-8000-000000000002", {"Rating": {"type": "number", "number": 4}},
                   "2025-06-01T00:00:00.000Z")  # fmt: skip
    assert sync(notion, warehouse_resource).success
    table = "raw_notion.ds_" + NOTES_DS.replace("-", "")
    ratings = warehouse.query(f"SELECT page_id, rating FROM {table} WHERE rating IS NOT NULL")
    assert ratings.to_dict("records") == [{"page_id": "bbbbbbbb-0000-4000-8000-000000000002", "rating": 4.0}]
    assert warehouse.scalar(f"SELECT count(*) FROM {table}") == 5  # rebuilt from all stored pages
    assert warehouse.scalar("SELECT count(*) FROM raw_notion.pages") == 7  # trash unseen incrementally

    result = sync(notion, warehouse_resource, full_refresh=True)
    assert result.success and metadata(result, "pages")["full_refresh"] is True
    assert warehouse.scalar("SELECT count(*) FROM raw_notion.pages") == 6
    assert warehouse.scalar(f"SELECT count(*) FROM {table}") == 4


def test_an_unshared_configured_database_is_a_reject_then_fails_the_step_naming_it(
    fake: FakeNotion, warehouse_resource: WarehouseResource, warehouse: Warehouse
) -> None:
    """The other tables sync, materialize and are checked; then the step fails naming the
    variable (it used to succeed, the wrong id visible only as a reject)."""
    missing = "99999999-9999-4999-8999-999999999999"
    notion = resource(fake, database_ids=[NOTES_DB, missing], evidence_database_id=None)
    result = sync(notion, warehouse_resource, checks=True)
    assert not result.success
    (failure,) = result.get_step_failure_events()
    error = failure.step_failure_data.error
    assert error is not None and f"NOTION_DATABASES names database {missing}" in error.to_string()
    assert {m.asset_key.path[-1] for m in result.get_asset_materialization_events()} >= {"pages", "databases"}
    status = warehouse.scalar("SELECT status FROM ops.sync_log WHERE asset = 'raw_notion/pages'")
    assert status == "failed"  # what status shows: the step's outcome, with what to fix
    assert "POST /v1/search" not in fake.requests
    assert warehouse.scalar("SELECT count(*) FROM raw_notion.pages") == 5
    rejects = rows(warehouse, "SELECT stream, source, location, reason FROM ops.rejects")
    assert rejects == [
        {"stream": "databases", "source": "NOTION_DATABASES", "location": missing,
         "reason": "not readable: HTTP 404 object_not_found"},
    ]  # fmt: skip
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks["notion_rejects"] is False and checks["notion_pages_unique"] is True
    assert metadata(result, "evidence")["configured"] is False


# --- reliability ----------------------------------------------------------------------------


def test_twenty_percent_faults_give_the_same_tables(
    warehouse_resource: WarehouseResource, tmp_path: Any
) -> None:
    version = "2025-09-03"  # the retry path is the same for both versions; one keeps the suite fast
    dumps = []
    for n, faults in enumerate([Faults(), Faults(rate=0.2, retry_after_s=0, drop=True, seed=11)]):
        server = FakeNotion(token=TOKEN, faults=faults)
        seed(server, notes=30)
        wh_res = warehouse_resource_at(tmp_path / f"w{n}.duckdb")
        with server:
            notion = resource(server, version, page_size=2, max_attempts=12)
            assert sync(notion, wh_res).success
            server.edit_page(
                PAGE_B, {"Estimate": {"type": "number", "number": 1.5}}, "2025-07-01T00:00:00.000Z"
            )
            assert sync(notion, wh_res).success
            faulted = sum(1 for _m, _p, status in server.log if status != 200)
            total = len(server.log)
        dumps.append(dump(wh_res.get()))
        if n == 1:
            assert total > 30 and faulted >= 0.1 * total  # the faults really happened
    assert dumps[0] == dumps[1]
    assert len(dumps[0]["pages"]) == 32


def test_429_honours_retry_after_and_pacer_spaces_requests(fake: FakeNotion) -> None:
    fake.rate_limit_per_s, fake.rate_limit_burst, fake.rate_limit_retry_after = 2.0, 1, "1"
    fake._bucket = 1.0
    api = resource(fake, max_retry_wait_s=5).api()
    started = time.monotonic()
    api.me()
    api.me()  # the bucket is empty: 429 with Retry-After: 1, then success
    assert time.monotonic() - started >= 0.95
    assert fake.rate_limited == 1 and api.requests == 3
    api.close()

    fake.rate_limit_per_s = None
    paced = resource(fake, rate_per_s=20).api()
    started = time.monotonic()
    for _ in range(6):
        paced.me()
    assert time.monotonic() - started >= 5 / 20 - 0.01
    paced.close()


def test_revoked_token_fails_fast_naming_notion_token(
    fake: FakeNotion, warehouse_resource: WarehouseResource, warehouse: Warehouse
) -> None:
    notion = resource(fake)
    assert sync(notion, warehouse_resource).success
    fake.revoke_token()
    fake.reset_counters()
    result = sync(notion, warehouse_resource, checks=True)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    error, message = failure.step_failure_data.error, ""
    while error is not None:
        message, error = message + error.message, error.cause
    assert "NOTION_TOKEN" in message and "401" in message and TOKEN not in message
    assert fake.total_requests == 1  # 401 is not retried: the first request fails the run
    health = probe(notion)
    assert health["ok"] is False and "NOTION_TOKEN" in health["reason"]
    with pytest.raises(NotionAuthError, match="NOTION_TOKEN"):
        notion.api().me()
    assert warehouse.scalar("SELECT count(*) FROM raw_notion.pages") == 7  # the old data stands


def test_token_never_appears_in_logs_metadata_rejects_or_errors(
    fake: FakeNotion, warehouse_resource: WarehouseResource, warehouse: Warehouse,
    caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    caplog.set_level(logging.DEBUG)
    server_faults = fake.faults
    server_faults.rate, server_faults.retry_after_s = 0.3, 0
    notion = resource(fake, database_ids=[NOTES_DB, "99999999-9999-4999-8999-999999999999"], max_attempts=10)
    result = sync(notion, warehouse_resource, checks=True)
    # Synced under faults, then failed naming NOTION_DATABASES for the unshared database.
    assert not result.success and len(result.get_asset_materialization_events()) == 4
    fake.revoke_token()
    server_faults.rate = 0
    failed = sync(notion, warehouse_resource, checks=True)
    assert not failed.success
    texts = [caplog.text, *capfd.readouterr()]
    for run in (result, failed):
        for event in run.all_events:
            texts.append(repr(event))
    for table in (
        "ops.rejects",
        "ops.sync_log",
        "ops.sync_cursors",
        "raw_notion.pages",
        "raw_notion.databases",
    ):
        texts.append(warehouse.query(f"SELECT * FROM {table}").to_csv())
    assert any("NOTION_TOKEN" in t for t in texts)  # the error is there, by name
    assert all(TOKEN not in t for t in texts)


def test_not_configured_succeeds_with_zero_rows(
    warehouse_resource: WarehouseResource, warehouse: Warehouse
) -> None:
    result = sync(NotionResource(), warehouse_resource, checks=True)
    assert result.success
    for name in ("pages", "databases", "evidence", "cases"):
        md = metadata(result, name)
        assert md["configured"] is False and md["dagster/row_count"] == 0 and "NOTION_TOKEN" in md["reason"]
    assert all(e.passed for e in result.get_asset_check_evaluations())
    log = warehouse.query("SELECT DISTINCT status FROM ops.sync_log")["status"].tolist()
    assert log == ["not_configured"]
    assert not warehouse.table_exists("raw_notion", "pages")


def test_from_settings_and_definitions_load_without_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("NOTION_TOKEN", "NOTION_DATABASES", "NOTION_EVIDENCE_DATABASE", "NOTION_CASES_DATABASE"):
        monkeypatch.delenv(name, raising=False)
    assert NotionResource.from_settings().configured is False
    dg.Definitions.validate_loadable(
        dg.Definitions.merge(
            notion_assets.defs,
            dg.Definitions(
                resources={"warehouse": WarehouseResource(path="x"), "notion": NotionResource.from_settings()}
            ),
        )
    )
    monkeypatch.setenv("NOTION_DATABASES", f"{NOTES_DB.replace('-', '').upper()}, {TASKS_DB}")
    monkeypatch.setenv("NOTION_CASES_DATABASE", TASKS_DB.replace("-", ""))
    monkeypatch.setenv("NOTION_API_VERSION", "2022-06-28")
    settings = NotionResource.from_settings()
    assert settings.database_ids == [NOTES_DB, TASKS_DB] and settings.ledger_databases() == {
        "cases": TASKS_DB
    }
    assert settings.api_version == "2022-06-28" and settings.rate_per_s == 3.0


def test_health_check_passes_with_a_good_token(fake: FakeNotion) -> None:
    health = probe(resource(fake))
    assert health == {
        "ok": True,
        "configured": True,
        "reason": "users/me answered",
        "bot_id": "0c9a3f55-8f0e-4a0b-9d6e-8a1b2c3d4e5f",
        "workspace": "Fake Workspace",
    }


def test_search_discovers_multi_source_database_and_paginates(
    warehouse_resource: WarehouseResource, warehouse: Warehouse
) -> None:
    server = FakeNotion(token=TOKEN)
    db = server.add_database(
        "Multi",
        {"Name": {"type": "title"}},
        data_source_ids=[f"dddddddd-0000-4000-8000-00000000000{i}" for i in (1, 2)],
    )
    for i in range(7):
        server.add_page(db.data_source_ids[i % 2], {"Name": {"type": "title", "title": rich(f"m{i}")}},
                        f"2025-01-0{i + 1}T00:00:00.000Z")  # fmt: skip
    with server:
        result = sync(resource(server, page_size=2, evidence_database_id=None), warehouse_resource)
        assert result.success
        assert server.requests["POST /v1/search"] == 1
        assert server.query_requests() == 2 + 2  # 4 and 3 pages at 2 per request
    per_table = warehouse.query("SELECT table_id, page_count FROM raw_notion.databases ORDER BY 1")
    assert per_table.values.tolist() == [[db.data_source_ids[0], 4], [db.data_source_ids[1], 3]]


def test_a_refused_start_cursor_restarts_the_listing(fake: FakeNotion) -> None:
    """Notion's cursor is the next result's id; if that page is trashed mid-listing the cursor is
    refused (400). The listing restarts once instead of failing (Airbyte's lesson)."""
    api = resource(fake, page_size=2).api()
    (notes,) = [t for t in api.search_tables() if t.table_id == NOTES_DS]
    listing = api.query_pages(notes, None)
    first = [next(listing)["id"], next(listing)["id"]]
    fake.pages["bbbbbbbb-0000-4000-8000-000000000002"].in_trash = True  # the next cursor
    rest = [p["id"] for p in listing]
    assert first == ["bbbbbbbb-0000-4000-8000-000000000000", "bbbbbbbb-0000-4000-8000-000000000001"]
    assert rest == [f"bbbbbbbb-0000-4000-8000-00000000000{i}" for i in (0, 1, 3, 4)]
    assert [s for _m, _p, s in fake.log] == [200, 200, 400, 200, 200]
    api.close()


def test_column_names_are_valid_identifiers_without_collisions() -> None:
    from chitty_pipelines.platforms.notion.properties import normalize_id, typed_columns
    from chitty_pipelines.platforms.notion.resource import NotionTable
    from chitty_pipelines.platforms.notion.streams import typed_table_name

    schema = {
        "Due": {"id": "a", "type": "date"},
        "Due Start": {"id": "b", "type": "rich_text"},
        "due-start": {"id": "c", "type": "number"},
        "日付": {"id": "d", "type": "checkbox"},
        "page_id": {"id": "e", "type": "url"},
        "Heading": {"id": "title", "type": "title"},
        "x" * 80: {"id": "f", "type": "button"},
    }
    cols = [(c.name, c.type, c.prop) for c in typed_columns(schema)]
    assert cols == [
        ("heading", "VARCHAR", "Heading"),  # the title first, then by name
        ("due_start", "TIMESTAMPTZ", "Due"),
        ("due_end", "TIMESTAMPTZ", "Due"),
        ("due_start_2", "VARCHAR", "Due Start"),
        ("due_start_3", "DOUBLE", "due-start"),
        ("p_page_id", "VARCHAR", "page_id"),
        ("x" * 48, "JSON", "x" * 80),
        ("prop_3c363836", "BOOLEAN", "日付"),
    ]
    assert normalize_id("11111111111141118111111111111111") == "11111111-1111-4111-8111-111111111111"
    odd = NotionTable('x"; DROP TABLE y; --', None, None, {}, None, "database")
    assert typed_table_name("pages", odd) == "db_xdroptabley"


def test_settings_from_the_environment_resolve_outside_and_inside_a_run(
    fake: FakeNotion,
    warehouse_resource: WarehouseResource,
    warehouse: Warehouse,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NOTION_TOKEN", TOKEN)
    monkeypatch.setenv("NOTION_BASE_URL", fake.base_url)
    monkeypatch.setenv("NOTION_RATE", "0")
    monkeypatch.setenv("NOTION_CASES_DATABASE", TASKS_DB)
    monkeypatch.delenv("NOTION_DATABASES", raising=False)
    monkeypatch.delenv("NOTION_EVIDENCE_DATABASE", raising=False)
    notion = NotionResource.from_settings()
    assert isinstance(notion.token, dg.EnvVar)  # the secret itself is never in the resource config
    assert probe(notion)["ok"] is True  # outside a run (CLI status, sensors)
    result = sync(notion, warehouse_resource)
    assert result.success and metadata(result, "cases")["dagster/row_count"] == 2
    assert warehouse.scalar("SELECT count(*) FROM raw_notion.pages") == 7


def test_a_value_that_does_not_fit_its_column_is_a_reject_not_a_failure(
    fake: FakeNotion, warehouse_resource: WarehouseResource, warehouse: Warehouse
) -> None:
    odd = "aaaaaaaa-0000-4000-8000-0000000000ff"
    fake.add_page(TASKS_DB, {"Name": {"type": "title", "title": rich("odd")},
                             "Estimate": {"type": "rich_text", "rich_text": rich("about three")}},
                  "2025-03-01T09:10:00.000Z", page_id=odd)  # fmt: skip
    result = sync(resource(fake), warehouse_resource, checks=True)
    assert result.success
    assert metadata(result, "pages")["rejects"] == 1 and metadata(result, "evidence")["rejects"] == 1
    got = rows(warehouse, "SELECT platform, stream, source, location, reason, excerpt FROM ops.rejects")
    assert got == [
        {"platform": "notion", "stream": "evidence", "source": TASKS_DS, "location": f"{odd}:Estimate",
         "reason": "property 'Estimate' does not fit its typed column; kept in pages.properties",
         "excerpt": '"about three"'},
    ]  # fmt: skip
    row = rows(warehouse, f"SELECT name, estimate FROM raw_notion.evidence WHERE page_id = '{odd}'")[0]
    assert row["name"] == "odd" and row["estimate"] != row["estimate"]  # NULL
    stored = json.loads(warehouse.scalar(f"SELECT properties FROM raw_notion.pages WHERE page_id = '{odd}'"))
    assert stored["Estimate"] == "about three"
    checks = {e.check_name: (e.passed, e.severity) for e in result.get_asset_check_evaluations()}
    assert checks["notion_rejects"] == (False, dg.AssetCheckSeverity.WARN)


def test_an_unreachable_server_names_notion_base_url_not_the_token() -> None:
    """Nothing listens at the base URL: the error says where it tried and which variable sets
    that, not that the (good) token is wrong."""
    import socket

    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    notion = NotionResource(
        token=TOKEN, base_url=f"http://127.0.0.1:{port}", max_attempts=2, max_retry_wait_s=0.01, timeout_s=2
    )
    with pytest.raises(NotionApiError) as caught:
        notion.api().me()
    text = str(caught.value)
    assert "NOTION_BASE_URL" in text and f"127.0.0.1:{port}" in text and "after 2 attempts" in text
    assert TOKEN not in text


def test_a_token_without_read_capability_fails_at_once_with_notions_own_code(
    fake: FakeNotion, warehouse_resource: WarehouseResource
) -> None:
    """The fake's 403 said "internal_server_error"; Notion answers restricted_resource."""
    fake.faults = Faults(rate=1.0, statuses=(403,))
    notion = resource(fake)
    result = sync(notion, warehouse_resource)
    assert not result.success
    (failure,) = result.get_step_failure_events()
    error = failure.step_failure_data.error
    assert error is not None
    text = error.to_string()
    assert "(403 restricted_resource)" in text and "NOTION_TOKEN lacks the capability" in text
    assert fake.total_requests == 1  # refused: not retried
    assert "403 restricted_resource" in probe(notion)["reason"]


def test_probe_names_a_configured_database_that_cannot_be_read(fake: FakeNotion) -> None:
    """status and check said "users/me answered" while the sync failed on the database."""
    missing = "99999999-9999-4999-8999-999999999999"
    health = probe(resource(fake, database_ids=[NOTES_DB, missing]))
    assert health["ok"] is False
    assert f"NOTION_DATABASES names database {missing}" in health["reason"]
    assert "NOTION_EVIDENCE_DATABASE" not in health["reason"]  # that one exists
    assert probe(resource(fake, database_ids=[NOTES_DB]))["ok"] is True
