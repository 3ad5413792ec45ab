"""Drive credentials: the service-account JWT flow and user credentials against the fake's token
endpoint, fail-fast errors that name the variable, and no secret in logs, metadata or errors."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import httplib2
import pytest
from drive_support import (
    ROOT,
    SA_EMAIL,
    api_requests,
    files_table,
    materialize,
    rows,
    seed,
    seeded_fake,
    service_account_key,
    set_env,
    start_fake,
)
from googleapiclient.discovery import build
from platform_support import failure_text

from chitty_pipelines.kernel.fake_server import Faults
from chitty_pipelines.platforms.drive.fake import FakeDrive
from chitty_pipelines.platforms.drive.health import probe
from chitty_pipelines.platforms.drive.resource import DriveAuthError, DriveClient, DriveResource

REFRESH_TOKEN = "1//refresh-token-SECRET-4711"
CLIENT_SECRET = "GOCSPX-client-secret-0815"


@pytest.fixture
def fake(chitty_home, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeDrive]:
    with seeded_fake(monkeypatch) as fake:
        yield fake


def test_service_account_jwt_flow(fake: FakeDrive, warehouse_resource, warehouse) -> None:
    materialize(warehouse_resource)
    assert len(files_table(warehouse)) == 13
    # One signed assertion exchanged for one token, then Bearer calls that the fake accepted.
    (token_call,) = [entry for entry in fake.log if entry[1] == "/token"]
    assert token_call == ("POST", "/token", 200)
    assert len(fake.issued_tokens) == 1


def test_service_account_json_from_a_file(fake: FakeDrive, monkeypatch, warehouse_resource, tmp_path) -> None:
    key_file = tmp_path / "sa.json"
    key_file.write_text(json.dumps(service_account_key().info(fake.token_uri)))
    monkeypatch.setenv("DRIVE_SERVICE_ACCOUNT_JSON", str(key_file))
    assert materialize(warehouse_resource).success


@pytest.mark.parametrize("form", ["refresh_token", "authorized_user_json"])
def test_user_credentials(fake: FakeDrive, monkeypatch, warehouse_resource, warehouse, form: str) -> None:
    fake.register_refresh_token(REFRESH_TOKEN, "client-1.apps.googleusercontent.com", CLIENT_SECRET)
    monkeypatch.delenv("DRIVE_SERVICE_ACCOUNT_JSON")
    if form == "refresh_token":
        monkeypatch.setenv("DRIVE_REFRESH_TOKEN", REFRESH_TOKEN)
        monkeypatch.setenv("DRIVE_CLIENT_ID", "client-1.apps.googleusercontent.com")
        monkeypatch.setenv("DRIVE_CLIENT_SECRET", CLIENT_SECRET)
        monkeypatch.setenv("DRIVE_TOKEN_URI", fake.token_uri)
    else:
        info = {
            "type": "authorized_user",
            "client_id": "client-1.apps.googleusercontent.com",
            "client_secret": CLIENT_SECRET,
            "refresh_token": REFRESH_TOKEN,
            "token_uri": fake.token_uri,
        }
        monkeypatch.setenv("DRIVE_AUTHORIZED_USER_JSON", json.dumps(info))
    materialize(warehouse_resource)
    assert len(files_table(warehouse)) == 13


def test_revoked_key_fails_fast_naming_the_variable(fake: FakeDrive, warehouse_resource) -> None:
    materialize(warehouse_resource)
    fake.revoke()
    fake.reset_counters()
    result = materialize(warehouse_resource, raise_on_error=False)
    assert not result.success
    message = failure_text(result)
    assert "DriveAuthError" in message and "DRIVE_SERVICE_ACCOUNT_JSON" in message
    assert api_requests(fake) == {"POST /token": 1}  # no retries of a refused grant


def test_unknown_key_and_bad_json_name_the_variable(fake: FakeDrive, monkeypatch, warehouse_resource) -> None:
    info = service_account_key().info(fake.token_uri) | {"client_email": "stranger@evil.example"}
    monkeypatch.setenv("DRIVE_SERVICE_ACCOUNT_JSON", json.dumps(info))
    assert "DRIVE_SERVICE_ACCOUNT_JSON" in failure_text(materialize(warehouse_resource, raise_on_error=False))

    monkeypatch.setenv("DRIVE_SERVICE_ACCOUNT_JSON", '{"type": "service_account", "private_key": "SECRETPART')
    message = failure_text(materialize(warehouse_resource, raise_on_error=False))
    assert "DRIVE_SERVICE_ACCOUNT_JSON does not hold valid JSON" in message and "SECRETPART" not in message

    monkeypatch.setenv("DRIVE_SERVICE_ACCOUNT_JSON", '{"type": "service_account", "private_key": "SECRET"}')
    message = failure_text(materialize(warehouse_resource, raise_on_error=False))
    assert "DRIVE_SERVICE_ACCOUNT_JSON is not usable credentials JSON" in message
    assert "SECRET" not in message.replace("DRIVE_CLIENT_SECRET", "")

    monkeypatch.delenv("DRIVE_SERVICE_ACCOUNT_JSON")
    monkeypatch.setenv("DRIVE_REFRESH_TOKEN", REFRESH_TOKEN)
    message = failure_text(materialize(warehouse_resource, raise_on_error=False))
    assert "DRIVE_REFRESH_TOKEN needs DRIVE_CLIENT_ID and DRIVE_CLIENT_SECRET" in message


def test_http_401_fails_fast(fake: FakeDrive) -> None:
    """A call without a valid Bearer token is refused once and reported, not retried."""
    service = build(
        "drive",
        "v3",
        http=httplib2.Http(timeout=10),  # no credentials at all: no Authorization header
        static_discovery=True,
        client_options={"api_endpoint": f"{fake.base_url}/drive/v3/"},
    )
    client = DriveClient(service, "DRIVE_AUTHORIZED_USER_JSON", attempts=5, max_wait_s=0.01)
    with pytest.raises(DriveAuthError, match=r"HTTP 401.*check DRIVE_AUTHORIZED_USER_JSON"):
        client.execute(lambda: service.files().list(q=f"'{ROOT}' in parents"), "files.list")
    assert api_requests(fake) == {"GET /drive/v3/files": 1}


def test_no_secret_in_logs_metadata_errors_or_tables(
    chitty_home, monkeypatch, warehouse_resource, warehouse, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    caplog.set_level(logging.DEBUG)
    fake = start_fake(Faults(rate=0.2, statuses=(429, 403, 503), seed=5))
    try:
        seed(fake)
        set_env(monkeypatch, fake)
        fake.register_refresh_token(REFRESH_TOKEN, "cid", CLIENT_SECRET)
        drive = DriveResource.from_settings(max_wait_s=0.01, attempts=10)
        texts: list[str] = []
        results = [materialize(warehouse_resource, drive=drive, checks=True)]
        fake.update("jalpha", "{ not json any more")
        results.append(materialize(warehouse_resource, drive=drive))
        fake.revoke()
        results.append(materialize(warehouse_resource, drive=drive, raise_on_error=False))
        texts.append(probe(DriveResource.from_settings())["reason"])
        # The user-credentials flavour, revoked too.
        monkeypatch.delenv("DRIVE_SERVICE_ACCOUNT_JSON")
        monkeypatch.setenv("DRIVE_REFRESH_TOKEN", REFRESH_TOKEN)
        monkeypatch.setenv("DRIVE_CLIENT_ID", "cid")
        monkeypatch.setenv("DRIVE_CLIENT_SECRET", CLIENT_SECRET)
        monkeypatch.setenv("DRIVE_TOKEN_URI", fake.token_uri)
        results.append(materialize(warehouse_resource, raise_on_error=False))
        for result in results:
            for event in result.all_events:
                texts.append(str(event.message))
                texts.append(repr(event.event_specific_data))
        for table in ("ops.rejects", "ops.sync_log", "ops.sync_cursors"):
            texts.extend(map(str, rows(warehouse, f"SELECT * FROM {table}")))
        texts.append(caplog.text)
        blob = "\n".join(texts)
        # We looked at the right text: it holds the auth error and the reject.
        assert "DRIVE_SERVICE_ACCOUNT_JSON" in blob and "invalid JSON" in blob
        assert len(fake.issued_tokens) >= 2
        pem_lines = [line for line in service_account_key().private_pem.splitlines() if "-----" not in line]
        secrets = [*pem_lines, *fake.issued_tokens, REFRESH_TOKEN, CLIENT_SECRET]
        leaked = [s for s in secrets if s in blob]
        assert leaked == []
        assert SA_EMAIL not in blob  # not even the identity inside the key
    finally:
        fake.stop()
