"""Conformance with Drive's real v3 discovery document (../shared/samples/google-drive, revision
20261106): the fields we ask for, the parameters we send, the paths the fake serves and the shapes
it returns all exist there with the types we assume; and a client built from that document
syncs the seeded fake to the same table."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httplib2
import pytest
from drive_support import files_table, seed, set_env, start_fake
from google_auth_httplib2 import AuthorizedHttp
from googleapiclient.discovery import build_from_document

from chitty_pipelines.platforms.drive.fake_query import parse_fields
from chitty_pipelines.platforms.drive.resource import DriveClient, DriveResource
from chitty_pipelines.platforms.drive.streams import FIELDS, sync

pytestmark = pytest.mark.conformance


@pytest.fixture
def discovery(samples: Path) -> dict[str, Any]:
    path = samples / "google-drive" / "drive.v3.discovery.json"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    return json.loads(path.read_text())


def _method(doc: dict[str, Any], resource: str, name: str) -> dict[str, Any]:
    return doc["resources"][resource]["methods"][name]


def test_document_identity(discovery) -> None:
    assert (discovery["name"], discovery["version"], discovery["revision"]) == ("drive", "v3", "20261106")
    assert (discovery["rootUrl"], discovery["servicePath"]) == ("https://www.googleapis.com/", "drive/v3/")
    # The default base URL plus drive/v3/ is the document's root plus service path.
    assert DriveResource().base_url + "drive/v3/" == discovery["rootUrl"] + discovery["servicePath"]


def test_requested_file_fields_exist_with_assumed_types(discovery) -> None:
    props = discovery["schemas"]["File"]["properties"]
    requested = parse_fields(FIELDS)
    assert set(requested) <= set(props), set(requested) - set(props)
    assert len(props) == 65  # the File schema the reference describes
    # int64 arrives as a string; times are RFC 3339; parents is a list of ids.
    assert {k: (props[k]["type"], props[k].get("format")) for k in ("size", "version")} == {
        "size": ("string", "int64"),
        "version": ("string", "int64"),
    }
    assert props["modifiedTime"]["format"] == props["createdTime"]["format"] == "date-time"
    assert props["parents"] == {**props["parents"], "type": "array", "items": {"type": "string"}}
    assert props["trashed"]["type"] == props["explicitlyTrashed"]["type"] == "boolean"
    assert props["md5Checksum"]["type"] == "string"
    owners = requested["owners"] or {}
    assert props["owners"]["items"]["$ref"] == "User"
    assert set(owners) <= set(discovery["schemas"]["User"]["properties"])


def test_list_and_change_shapes(discovery) -> None:
    schemas = discovery["schemas"]
    assert {"nextPageToken", "files", "incompleteSearch"} <= set(schemas["FileList"]["properties"])
    assert {"nextPageToken", "newStartPageToken", "changes"} <= set(schemas["ChangeList"]["properties"])
    assert {"changeType", "fileId", "removed", "time", "driveId", "file"} <= set(
        schemas["Change"]["properties"]
    )
    assert schemas["Change"]["properties"]["file"]["$ref"] == "File"
    assert "startPageToken" in schemas["StartPageToken"]["properties"]


def test_parameters_we_send_exist(discovery) -> None:
    global_params = set(discovery["parameters"])
    assert {"fields", "alt"} <= global_params
    files_list = _method(discovery, "files", "list")["parameters"]
    assert {
        "q",
        "pageSize",
        "pageToken",
        "corpora",
        "driveId",
        "includeItemsFromAllDrives",
        "supportsAllDrives",
    } <= set(files_list)
    assert files_list["pageSize"]["maximum"] == "1000"
    changes = _method(discovery, "changes", "list")["parameters"]
    assert {"pageToken", "pageSize", "includeRemoved", "driveId", "includeItemsFromAllDrives"} <= set(changes)
    assert changes["pageToken"]["required"] is True
    assert {"driveId", "supportsAllDrives"} <= set(
        _method(discovery, "changes", "getStartPageToken")["parameters"]
    )
    export = _method(discovery, "files", "export")
    assert export["parameters"]["mimeType"]["required"] is True
    assert _method(discovery, "files", "get")["supportsMediaDownload"] is True


def test_fake_serves_the_documented_paths(discovery) -> None:
    fake = start_fake()
    try:
        routes = [(m, rx) for m, rx, _h in fake._routes]
        for resource, name in [
            ("files", "list"),
            ("files", "get"),
            ("files", "export"),
            ("changes", "list"),
            ("changes", "getStartPageToken"),
            ("about", "get"),
        ]:
            method = _method(discovery, resource, name)
            path = "/drive/v3/" + re.sub(r"\{\w+\}", "X1", method["path"])
            assert any(m == method["httpMethod"] and rx.match(path) for m, rx in routes), path
    finally:
        fake.stop()


def _conforms(value: Any, schema: dict[str, Any], schemas: dict[str, Any], where: str) -> list[str]:
    """Keys the schema does not know and JSON types it does not allow."""
    if "$ref" in schema:
        schema = schemas[schema["$ref"]]
    kind = schema.get("type")
    py = {"string": str, "boolean": bool, "integer": int, "array": list, "object": dict}
    if kind in py and not isinstance(value, py[kind]):
        return [f"{where}: {type(value).__name__} is not {kind}"]
    problems: list[str] = []
    if kind == "array":
        for i, item in enumerate(value):
            problems += _conforms(item, schema["items"], schemas, f"{where}[{i}]")
    if kind == "object" and "properties" in schema:
        for key, item in value.items():
            if key not in schema["properties"]:
                problems.append(f"{where}.{key}: not in the schema")
            else:
                problems += _conforms(item, schema["properties"][key], schemas, f"{where}.{key}")
    return problems


def test_fake_responses_match_the_schemas(discovery, chitty_home, monkeypatch) -> None:
    fake = start_fake()
    try:
        seed(fake)
        fake.trash("ttodo")
        fake.delete("jbroken")
        set_env(monkeypatch, fake)
        client = DriveResource.from_settings().client()
        files = client.service.files()
        listing = client.execute(lambda: files.list(q="'fnotes' in parents", fields="*", pageSize=3), "list")
        start = client.execute(lambda: client.service.changes().getStartPageToken(), "start")
        changes = client.execute(lambda: client.service.changes().list(pageToken="1", fields="*"), "changes")
        schemas = discovery["schemas"]
        assert len(listing["files"]) == 3 and "nextPageToken" in listing
        assert any(c["removed"] for c in changes["changes"])
        assert _conforms(listing, schemas["FileList"], schemas, "FileList") == []
        assert _conforms(changes, schemas["ChangeList"], schemas, "ChangeList") == []
        assert _conforms(start, schemas["StartPageToken"], schemas, "StartPageToken") == []
    finally:
        fake.stop()


def test_client_built_from_the_sample_document_syncs(discovery, chitty_home, monkeypatch, warehouse) -> None:
    fake = start_fake()
    try:
        seed(fake)
        set_env(monkeypatch, fake)
        resource = DriveResource.from_settings()
        creds, var = resource._credentials()
        service = build_from_document(
            discovery,
            http=AuthorizedHttp(creds, http=httplib2.Http(timeout=10)),
            client_options={"api_endpoint": f"{fake.base_url}/drive/v3/"},
        )
        outcome = sync(resource, DriveClient(service, var, 3, 0.1), warehouse, None, False)
        assert (outcome.mode, outcome.files_total, outcome.contents_written) == ("full", 13, 8)
        assert [r[0] for r in files_table(warehouse)][:3] == ["consolidated", "consolidated/alpha",
                                                              "consolidated/alpha/state.json"]  # fmt: skip
    finally:
        fake.stop()
