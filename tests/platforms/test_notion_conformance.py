"""Notion conformance: the real responses in ../shared/samples/notion, parsed and replayed.

Pure parsing first (property flattening, typed columns), then the recorded bodies served verbatim
by a replay server so notion-client and the whole Dagster sync meet the real wire shapes of both
API versions.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from chitty_pipelines.kernel.fake_server import FakeService, Request, Response
from chitty_pipelines.platforms.notion import assets as notion_assets
from chitty_pipelines.platforms.notion.health import probe
from chitty_pipelines.platforms.notion.properties import (
    flatten_properties,
    page_title,
    parse_time,
    typed_columns,
)
from chitty_pipelines.platforms.notion.resource import (
    NotionApiError,
    NotionAuthError,
    NotionResource,
    NotionTable,
)
from chitty_pipelines.platforms.notion.streams import _page_row
from chitty_pipelines.warehouse import Warehouse
from chitty_pipelines.warehouse.resource import WarehouseResource

pytestmark = pytest.mark.conformance
BODIES = "notion/notion-sdk-py/extracted-bodies"


def load(samples: Path, rel: str) -> Any:
    return json.loads((samples / rel).read_text())


def values(props: dict[str, Any]) -> dict[str, Any]:
    return {name: entry["value"] for name, entry in flatten_properties(props).items()}


# --- parsing ----------------------------------------------------------------------------------


def test_page_with_people_files_and_rollup_array(samples: Path) -> None:
    page = load(samples, "notion/notionapi-go/page_get.json")
    assert values(page["properties"]) == {
        "Tags": ["tag"],
        "Some another column": ["some_id"],
        "SomeColumn": "some text",
        "Name": "Hello",
        "Some Files": ["https://google.com"],
        "RollupArray": [42.2, 56],
    }
    assert page_title(page["properties"]) == "Hello"


def test_query_result_multi_select_and_empty_people(samples: Path) -> None:
    listing = load(samples, "notion/notionapi-go/database_query.json")
    (page,) = listing["results"]
    assert values(page["properties"]) == {
        "Tags": ["a"],
        "Column 1": ["a", "v", "b"],
        "Column": [],
        "some_prop": "a",
        "Name": "ba",
    }
    assert (listing["has_more"], listing["next_cursor"]) == (False, None)


def test_rich_text_without_annotations_concatenates_plain_text(samples: Path) -> None:
    page = load(samples, "notion/notion-rs/page.json")
    assert values(page["properties"]) == {"Name": "Stuffsome", "Description": "Stuffsome"}
    assert parse_time(page["last_edited_time"]) == datetime(2020, 3, 17, 21, 49, 37, 913000, tzinfo=UTC)


def test_issue_15_database_schema_maps_to_typed_columns(samples: Path) -> None:
    (db,) = load(samples, "notion/notion-rs/issue_15.json")["results"]
    cols = [(c.name, c.type, c.prop) for c in typed_columns(db["properties"])]
    assert cols == [
        ("title", "VARCHAR", "Title"),
        ("cover", "VARCHAR[]", "Cover"),
        ("director", "VARCHAR", "Director"),
        ("type", "VARCHAR", "Type"),
        ("watched", "BOOLEAN", "Watched"),
        ("year", "DOUBLE", "Year"),
    ]


def test_search_results_schema_with_formula_and_last_edited(samples: Path) -> None:
    db = load(samples, "notion/notion-rs/search_results.json")["results"][0]
    by_prop = {c.prop: (c.name, c.type) for c in typed_columns(db["properties"])}
    assert by_prop["End Date"] == ("end_date", "JSON")  # formula: result type unknown from the schema
    assert by_prop["Last Edited"] == ("last_edited", "TIMESTAMPTZ")
    assert by_prop["People"] == ("people", "VARCHAR[]")
    assert [c.name for c in typed_columns(db["properties"]) if c.prop == "Date"] == ["date_start", "date_end"]


def test_2025_page_row_from_a_real_page(samples: Path) -> None:
    page = load(samples, f"{BODIES}/2025-09-03__test_pages_retrieve__01__GET_pages_ID__200.json")
    table = NotionTable("t", None, None, {}, None, "data_source")
    row = _page_row(page, table, "pages")
    assert row["page_id"] == "393abc1e-edcd-81f5-ae94-ec2d55fe98ed"
    assert row["title"] == "Test 2026-07-04 11:08:14.736683"
    assert row["last_edited_time"] == datetime(2026, 7, 4, 9, 8, tzinfo=UTC)
    assert row["created_by"] == "7775f3a3-893f-43fa-b625-460c61094c78"
    assert row["url"].startswith("https://app.notion.com/p/Test-2026-07-04")
    assert row["is_deleted"] is False
    # A 2025-09-03 database carries an offset timestamp with milliseconds.
    db = load(samples, f"{BODIES}/2025-09-03__test_data_sources_query__01__POST_databases__200.json")
    assert parse_time(db["created_time"]) == datetime(2026, 7, 4, 9, 9, 45, 607000, tzinfo=UTC)


# --- replay: recorded bodies served to notion-client ---------------------------------------------


class Replay(FakeService):
    """Serves recorded bodies verbatim: ``{(method, path): (status, body)}``; anything else 404s."""

    def __init__(self, bodies: dict[tuple[str, str], tuple[int, Any]]):
        super().__init__()
        self.bodies = bodies
        self.route("GET", "/{path:path}", self._serve)
        self.route("POST", "/{path:path}", self._serve)

    def _serve(self, req: Request) -> Response:
        status, body = self.bodies.get((req.method, req.path), (404, {"object": "error", "status": 404,
                                       "code": "object_not_found", "message": "not recorded"}))  # fmt: skip
        return Response(status, body)


@pytest.fixture
def replay(samples: Path) -> Iterator[Replay]:
    b = samples / BODIES
    go = samples / "notion/notionapi-go"

    def sdk(name: str) -> Any:
        return json.loads((b / f"2025-09-03__{name}.json").read_text())

    bodies = {
        # 2025-09-03: a database holding a data source, its schema, an (empty) query result.
        ("GET", "/v1/databases/daf41515-aa5f-4d14-97a8-9193425ec491"): (
            200,
            sdk("test_data_sources_query__01__POST_databases__200"),
        ),
        ("GET", "/v1/data_sources/4ee04178-60dc-4b13-a1ea-14e3b9661a33"): (
            200,
            sdk("test_data_sources_query__02__POST_data_sources__200"),
        ),
        ("POST", "/v1/data_sources/393abc1e-edcd-81a2-8d0b-000bae7f15dc/query"): (
            200,
            sdk("test_data_sources_query__03__POST_data_sources_ID_query__200"),
        ),
        # 2022-06-28: a database with its schema, and a query result with a page.
        ("GET", "/v1/databases/some_id"): (200, json.loads((go / "database_get.json").read_text())),
        ("POST", "/v1/databases/some_id/query"): (200, json.loads((go / "database_query.json").read_text())),
        ("POST", "/v1/search"): (
            200,
            json.loads((samples / "notion/notion-rs/search_results.json").read_text()),
        ),
        ("GET", "/v1/users/me"): (401, sdk("test_api_response_error__01__GET_users__401")),
        ("GET", "/v1/users"): (400, sdk("test_api_response_error__00__GET_invalid__400")),
    }
    with Replay(bodies) as server:
        yield server


def _materialize(notion: NotionResource, warehouse_resource: WarehouseResource) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [notion_assets.notion_sync],
        selection=dg.AssetSelection.all().without_checks(),  # the checks run in the step: not here
        resources={"notion": notion, "warehouse": warehouse_resource},
    )


def test_replayed_2025_data_source_sync(
    replay: Replay, warehouse_resource: WarehouseResource, warehouse: Warehouse
) -> None:
    notion = NotionResource(
        token="secret_x",
        base_url=replay.base_url,
        rate_per_s=0,
        evidence_database_id="daf41515aa5f4d1497a89193425ec491",
    )
    assert _materialize(notion, warehouse_resource).success
    db = warehouse.query("SELECT * FROM raw_notion.databases").to_dict("records")
    assert len(db) == 1
    row = db[0]
    assert row["table_id"] == "393abc1e-edcd-81a2-8d0b-000bae7f15dc"
    assert row["database_id"] == "daf41515-aa5f-4d14-97a8-9193425ec491"
    assert (row["kind"], row["stream"]) == ("data_source", "evidence")
    assert row["title"] == "Test Data Source - 2026-07-04 11:09:46.539737" and row["page_count"] == 0
    assert json.loads(row["columns"]) == {"name": ["Name", "title"]}
    cols = warehouse.query("SELECT * FROM raw_notion.evidence").columns.tolist()
    assert cols == [
        "page_id",
        "table_id",
        "database_id",
        "created_time",
        "last_edited_time",
        "url",
        "is_deleted",
        "name",
    ]
    assert replay.requests["POST /v1/data_sources/393abc1e-edcd-81a2-8d0b-000bae7f15dc/query"] == 1


def test_replayed_2022_database_query_sync(
    replay: Replay, warehouse_resource: WarehouseResource, warehouse: Warehouse
) -> None:
    notion = NotionResource(
        token="secret_x",
        base_url=replay.base_url,
        rate_per_s=0,
        api_version="2022-06-28",
        database_ids=["some_id"],
    )
    assert _materialize(notion, warehouse_resource).success
    typed = warehouse.query("SELECT * FROM raw_notion.db_some_id").to_dict("records")
    assert len(typed) == 1
    t = typed[0]
    assert (t["page_id"], t["table_id"], t["name"], list(t["tags"]), t["somecolumn"]) == (
        "some_id", "some_id", "ba", ["a"], None
    )  # fmt: skip
    assert t["some_another_column"] is None  # not on this page: NULL, not an error
    assert t["last_edited_time"] == datetime(2021, 5, 24, 5, 6, 34, 827000, tzinfo=UTC)
    page = warehouse.query("SELECT title, properties, url FROM raw_notion.pages").to_dict("records")[0]
    assert page["title"] == "ba" and page["url"] == "some_url"
    assert json.loads(page["properties"])["Column 1"] == ["a", "v", "b"]  # kept though not in the schema


def test_replayed_2022_search_finds_the_database(replay: Replay) -> None:
    api = NotionResource(
        token="secret_x", base_url=replay.base_url, rate_per_s=0, api_version="2022-06-28"
    ).api()
    (table,) = api.search_tables()
    assert (table.table_id, table.title, table.kind) == ("58", "Plans", "database")
    assert table.last_edited_time == "2021-08-29T16:13:00.000Z" and "End Date" in table.properties
    api.close()


def test_replayed_errors_401_and_400(replay: Replay) -> None:
    notion = NotionResource(token="secret_x", base_url=replay.base_url, rate_per_s=0)
    api = notion.api()
    with pytest.raises(NotionAuthError, match="NOTION_TOKEN"):
        api.me()
    with pytest.raises(NotionApiError) as err:
        api.call("users.list", lambda: api.client.users.list())
    assert (err.value.status, err.value.code) == (400, "invalid_request_url")
    assert replay.requests["GET /v1/users"] == 1  # a 400 is not retried
    api.close()
    health = probe(notion)
    assert health["ok"] is False and "NOTION_TOKEN" in health["reason"]
