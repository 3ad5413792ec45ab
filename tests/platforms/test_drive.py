"""Drive: exact tables from a seeded fake, the one-call re-sync, checks, not configured."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime

import dagster as dg
import pytest
from drive_support import (
    BROKEN_JSON,
    ROOT,
    api_requests,
    contents_table,
    files_table,
    materialize,
    rows,
    seeded_fake,
    set_env,
    start_fake,
)

from chitty_pipelines import config
from chitty_pipelines.platforms.drive.fake import FakeDrive
from chitty_pipelines.platforms.drive.health import probe
from chitty_pipelines.platforms.drive.resource import DriveResource

FOLDER = "application/vnd.google-apps.folder"
EXPECTED_FILES = [
    ("consolidated", FOLDER, None, False),
    ("consolidated/alpha", FOLDER, None, False),
    ("consolidated/alpha/state.json", "application/json", 12, False),
    ("notes", FOLDER, None, False),
    ("notes/Design Doc", "application/vnd.google-apps.document", None, False),
    ("notes/big.txt", "text/plain", 1500, False),
    ("notes/photo.png", "image/png", 48, False),
    ("notes/readme.md", "text/markdown", 14, False),
    ("notes/todo.txt", "text/plain", 8, False),
    ("projects", FOLDER, None, False),
    ("projects/alpha.json", "application/json", 37, False),
    ("projects/beta.json", "application/json", 16, False),
    ("projects/broken.json", "application/json", 19, False),
]
ALPHA = '{"name": "alpha", "status": "active"}'
EXPECTED_CONTENTS = [
    ("consolidated/alpha/state.json", "json", '{"todos": 3}', '{"todos": 3}', True, None),
    ("notes/Design Doc", "google_doc", "Design\nLine two", None, None, None),
    ("notes/big.txt", "text", None, None, None, "larger than 1000 bytes"),
    ("notes/readme.md", "markdown", "# Notes\n\nhello", None, None, None),
    ("notes/todo.txt", "text", "buy milk", None, None, None),
    ("projects/alpha.json", "json", ALPHA, ALPHA, True, None),
    ("projects/beta.json", "json", '{"name": "beta"}', '{"name": "beta"}', True, None),
    ("projects/broken.json", "json", BROKEN_JSON, None, False, None),
]


@pytest.fixture
def fake(chitty_home, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeDrive]:
    with seeded_fake(monkeypatch) as fake:
        yield fake


def _metadata(result: dg.ExecuteInProcessResult) -> dict[str, dict[str, object]]:
    return {
        m.asset_key.to_user_string(): {k: v.value for k, v in m.metadata.items()}
        for m in result.asset_materializations_for_node("raw_drive_sync")
    }


def test_full_sync_exact_tables(fake: FakeDrive, warehouse_resource, warehouse) -> None:
    result = materialize(warehouse_resource)
    assert result.success
    assert files_table(warehouse) == EXPECTED_FILES
    assert contents_table(warehouse) == EXPECTED_CONTENTS

    (alpha,) = rows(
        warehouse,
        "SELECT id, name, parent_id, parents, md5, modified_time, created_time, version, owners, drive_id, "
        "is_folder FROM raw_drive.files WHERE path = 'projects/alpha.json'",
    )
    # The fake's clock starts at 2026-01-01 00:00:00 and ticks once per mutation; alpha is the 3rd.
    t3 = datetime(2026, 1, 1, 0, 0, 3, tzinfo=UTC)
    assert alpha == (
        "jalpha", "alpha.json", "fprojects", ["fprojects"], hashlib.md5(ALPHA.encode()).hexdigest(),
        t3, t3, 1, ["data@chitty.example"], None, False,
    )  # fmt: skip
    # Nothing outside the synced folder, and not the folder itself.
    outside = f"SELECT count(*) FROM raw_drive.files WHERE id IN ('tprivate', 'felsewhere', '{ROOT}')"
    assert rows(warehouse, outside) == [(0,)]

    (reject,) = rows(warehouse, "SELECT platform, stream, source, location, reason, excerpt FROM ops.rejects")
    assert reject[:4] == ("drive", "file_contents", "projects/broken.json", "jbroken")
    assert reject[4].startswith("invalid JSON") and reject[5] == BROKEN_JSON

    meta = _metadata(result)
    fetched = [ALPHA, '{"name": "beta"}', BROKEN_JSON, '{"todos": 3}', "# Notes\n\nhello", "buy milk"]
    doc_bytes = len("\ufeffDesign\nLine two".encode())
    assert meta["raw_drive/files"]["dagster/row_count"] == 13
    assert meta["raw_drive/files"]["rows_written"] == 13
    assert meta["raw_drive/files"]["mode"] == "full"
    assert meta["raw_drive/file_contents"]["dagster/row_count"] == 8
    assert meta["raw_drive/file_contents"]["rejects"] == 1
    assert meta["raw_drive/file_contents"]["bytes_read"] == sum(map(len, fetched)) + doc_bytes
    # Three folder levels -> three files.list calls (folders are listed together), one start
    # token, one download per text file, one export; big.txt is skipped by its listed size.
    reqs = api_requests(fake)
    assert reqs["GET /drive/v3/files"] == 3
    assert reqs["GET /drive/v3/changes/startPageToken"] == 1
    assert reqs["GET /drive/v3/files/ddesign/export"] == 1
    assert "GET /drive/v3/files/tbig" not in reqs and "GET /drive/v3/files/bphoto" not in reqs
    log = rows(warehouse, "SELECT asset, status, rows_written, rejects FROM ops.sync_log ORDER BY asset")
    assert log == [("raw_drive/file_contents", "success", 8, 1), ("raw_drive/files", "success", 13, 0)]


def test_no_change_resync_is_one_changes_call(fake: FakeDrive, warehouse_resource, warehouse) -> None:
    materialize(warehouse_resource)
    before = files_table(warehouse, "*")
    fake.reset_counters()
    result = materialize(warehouse_resource)
    assert api_requests(fake) == {"GET /drive/v3/changes": 1, "POST /token": 1}
    assert files_table(warehouse, "*") == before
    meta = _metadata(result)
    assert meta["raw_drive/files"]["mode"] == "incremental"
    assert meta["raw_drive/files"]["rows_written"] == 0
    assert meta["raw_drive/file_contents"]["rows_written"] == 0
    token = warehouse.cursors("drive", "files")[f"my_drive:{ROOT}"]
    assert token == {"page_token": str(len(fake.change_log) + 1), "root_id": ROOT}


def test_full_refresh_rereads_and_keeps_rows_unique(fake: FakeDrive, warehouse_resource, warehouse) -> None:
    materialize(warehouse_resource)
    fake.reset_counters()
    result = materialize(warehouse_resource, full_refresh=True, checks=True)
    assert files_table(warehouse) == EXPECTED_FILES
    assert contents_table(warehouse) == EXPECTED_CONTENTS
    assert api_requests(fake)["GET /drive/v3/files/jalpha"] == 1  # contents re-read too
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks == {"drive_reachable": True, "files_unique_id": True, "contents_rejects": False}


def test_health(fake: FakeDrive, monkeypatch: pytest.MonkeyPatch) -> None:
    health = probe(DriveResource.from_settings())
    assert health == {
        "ok": True,
        "reason": "root folder 'chittyos-data' readable",
        "configured": True,
        "root_name": "chittyos-data",
        "root_id": ROOT,
    }
    monkeypatch.setenv("DRIVE_FOLDER_ID", "0Bmissing")
    missing = probe(DriveResource.from_settings())
    assert missing["ok"] is False and "HTTP 404 notFound" in missing["reason"]
    fake.trash(ROOT)
    monkeypatch.setenv("DRIVE_FOLDER_ID", ROOT)
    assert probe(DriveResource.from_settings())["reason"] == f"root folder {ROOT} is in the trash"


def test_shared_drive_whole_corpus(chitty_home, monkeypatch, warehouse_resource, warehouse) -> None:
    fake = start_fake()
    try:
        shared = fake.add_shared_drive("0ASharedTeam", "Team")
        docs = fake.add_folder("docs", shared, file_id="fdocs")
        fake.add("a.md", docs, content="# A", mime_type="text/markdown", file_id="ma")
        fake.add("top.txt", shared, content="top", file_id="ttop")
        fake.add("mine.txt", content="my drive, not the shared drive", file_id="tmine")
        set_env(monkeypatch, fake)
        monkeypatch.delenv("DRIVE_FOLDER_ID")
        monkeypatch.setenv("DRIVE_SHARED_DRIVE_ID", shared)
        materialize(warehouse_resource)
        assert files_table(warehouse, "path, drive_id, owners") == [
            ("docs", shared, []),
            ("docs/a.md", shared, []),
            ("top.txt", shared, []),
        ]
        # One flat corpora=drive listing instead of a folder walk.
        assert api_requests(fake)["GET /drive/v3/files"] == 1
        assert "corpora=drive" in next(p for m, p, _ in fake.log if p.startswith("/drive/v3/files?"))
        fake.update("ma", "# A, edited")
        fake.add("new.txt", docs, content="new", file_id="tnew")
        fake.add("mine2.txt", content="elsewhere", file_id="tmine2")
        fake.reset_counters()
        materialize(warehouse_resource)
        assert api_requests(fake) == {
            "GET /drive/v3/changes": 1,
            "GET /drive/v3/files/ma": 1,
            "GET /drive/v3/files/tnew": 1,
            "POST /token": 1,
        }
        assert [r[0] for r in files_table(warehouse)] == ["docs", "docs/a.md", "docs/new.txt", "top.txt"]
        assert rows(warehouse, "SELECT text FROM raw_drive.file_contents WHERE file_id = 'ma'") == [
            ("# A, edited",)
        ]
    finally:
        fake.stop()


def test_not_configured_succeeds_with_zero_rows(
    chitty_home, monkeypatch, warehouse_resource, warehouse
) -> None:
    for spec in config.ENV_VARS:
        if spec.platform == "drive":
            monkeypatch.delenv(spec.name, raising=False)
    assert config.platform_configured("drive") is False
    result = materialize(warehouse_resource, checks=True)
    assert result.success
    meta = _metadata(result)
    for key in ("raw_drive/files", "raw_drive/file_contents"):
        assert meta[key]["configured"] is False
        assert meta[key]["dagster/row_count"] == 0
        assert "DRIVE_FOLDER_ID" in str(meta[key]["reason"])
    assert rows(warehouse, "SELECT asset, status FROM ops.sync_log ORDER BY asset") == [
        ("raw_drive/file_contents", "not_configured"),
        ("raw_drive/files", "not_configured"),
    ]
    assert all(e.passed for e in result.get_asset_check_evaluations())


def test_configured_needs_credentials_and_a_root(chitty_home, monkeypatch) -> None:
    for spec in config.ENV_VARS:
        if spec.platform == "drive":
            monkeypatch.delenv(spec.name, raising=False)
    monkeypatch.setenv("DRIVE_FOLDER_ID", "x")
    assert not config.platform_configured("drive") and not DriveResource.from_settings().configured
    monkeypatch.setenv("DRIVE_REFRESH_TOKEN", "r")
    assert config.platform_configured("drive") and DriveResource.from_settings().configured


def test_definitions_load_without_env(monkeypatch) -> None:
    for spec in config.ENV_VARS:
        if spec.platform == "drive":
            monkeypatch.delenv(spec.name, raising=False)
    from chitty_pipelines.platforms import registry
    from chitty_pipelines.platforms.drive import assets as drive
    from chitty_pipelines.warehouse.resource import WarehouseResource

    shared = dg.Definitions(
        resources={"warehouse": WarehouseResource.from_settings(), "drive": registry.get("drive").resource()}
    )
    dg.Definitions.validate_loadable(dg.Definitions.merge(shared, drive.defs))
    specs = {s.key.to_user_string(): s for s in drive.raw_drive_sync.specs}
    assert set(specs) == {"raw_drive/files", "raw_drive/file_contents"}
    assert all(s.group_name == "drive" and "googledrive" in s.kinds for s in specs.values())
    checks = sorted(k.name for k in drive.raw_drive_sync.check_keys)  # evaluated in the sync's step
    assert json.dumps(checks) == '["contents_rejects", "drive_reachable", "files_unique_id"]'


def test_long_folder_batches_use_method_override(
    chitty_home, monkeypatch, warehouse_resource, warehouse
) -> None:
    """40 real-length folder ids make a URL over 2,048 characters: the client sends it as a POST
    with X-HTTP-Method-Override, as it does against Google, and the walk still sees every file."""
    fake = start_fake()
    try:
        fake.add_folder("chittyos-data", file_id=ROOT)
        for i in range(45):
            folder = fake.add_folder(f"p{i:02d}", ROOT, file_id=f"1AbCdEfGhIjKlMnOpQrStUvWxYz-{i:05d}")
            fake.add(f"f{i:02d}.bin", folder, content=b"\x01", mime_type="application/octet-stream")
        set_env(monkeypatch, fake)
        materialize(warehouse_resource)
        assert fake.method_overrides >= 1
        assert rows(warehouse, "SELECT count(*), count(DISTINCT path) FROM raw_drive.files") == [(90, 90)]
        assert rows(warehouse, "SELECT path FROM raw_drive.files WHERE name = 'f44.bin'") == [
            ("p44/f44.bin",)
        ]
    finally:
        fake.stop()


def test_missing_root_fails_instead_of_emptying_the_table(
    fake: FakeDrive, monkeypatch, warehouse_resource
) -> None:
    materialize(warehouse_resource)
    monkeypatch.setenv("DRIVE_FOLDER_ID", "0Bmissing")
    result = materialize(warehouse_resource, raise_on_error=False)
    (failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    message = failure.step_failure_data.error.to_string()
    assert "HTTP 404 notFound; check DRIVE_FOLDER_ID (0Bmissing)" in message
    assert "DRIVE_SERVICE_ACCOUNT_JSON" in message
    monkeypatch.setenv("DRIVE_FOLDER_ID", "jalpha")
    result = materialize(warehouse_resource, raise_on_error=False)
    assert not result.success


def _http_error(status: int, reason: str, retry_after: str | None = None) -> Exception:
    import httplib2
    from googleapiclient.errors import HttpError

    headers = {"status": str(status)} | ({"retry-after": retry_after} if retry_after else {})
    body = {
        "error": {"code": status, "message": reason, "errors": [{"reason": reason, "domain": "usageLimits"}]}
    }
    return HttpError(httplib2.Response(headers), json.dumps(body).encode(), uri="http://x/drive/v3/files")


def test_retry_policy_classifies_drive_errors() -> None:
    from google.auth.exceptions import RefreshError

    from chitty_pipelines.platforms.drive.resource import is_retryable, retry_after

    assert is_retryable(_http_error(403, "userRateLimitExceeded"))
    assert is_retryable(_http_error(403, "rateLimitExceeded"))
    assert not is_retryable(_http_error(403, "insufficientFilePermissions"))
    assert not is_retryable(_http_error(404, "notFound"))
    assert all(is_retryable(_http_error(s, "backendError")) for s in (429, 500, 502, 503, 504))
    assert retry_after(_http_error(429, "rateLimitExceeded", "7")) == 7.0
    assert retry_after(_http_error(503, "backendError")) is None
    assert is_retryable(ConnectionResetError())
    assert not is_retryable(RefreshError("invalid_grant: bad", {"error": "invalid_grant"}))
    assert is_retryable(RefreshError("server down", {"error": {"code": 502}}))
