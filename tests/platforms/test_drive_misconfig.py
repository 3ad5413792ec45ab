"""Google Drive set up wrongly through the environment, as a data engineer can from the README:
a folder id that does not exist, a base URL where nothing listens, a server that accepts and
never answers. The step fails naming the variable to fix; the health probe says the same."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest
from drive_support import ROOT, materialize, seeded_fake
from platform_support import failure_text

from chitty_pipelines.kernel.fake_server import Faults
from chitty_pipelines.platforms.drive.fake import FakeDrive
from chitty_pipelines.platforms.drive.health import probe
from chitty_pipelines.platforms.drive.resource import DriveResource
from chitty_pipelines.warehouse.resource import WarehouseResource


@pytest.fixture
def fake(chitty_home, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeDrive]:
    with seeded_fake(monkeypatch) as fake:
        yield fake


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_probe_names_a_folder_id_that_does_not_exist(
    fake: FakeDrive, monkeypatch: pytest.MonkeyPatch
) -> None:
    """status and check said "files.get(root) failed: HTTP 404 notFound", naming no setting."""
    monkeypatch.setenv("DRIVE_FOLDER_ID", "0BnoSuchFolder")
    health = probe(DriveResource.from_settings())
    assert health["ok"] is False
    assert "check DRIVE_FOLDER_ID (0BnoSuchFolder)" in health["reason"]
    assert "DRIVE_SERVICE_ACCOUNT_JSON" in health["reason"]  # the account it must be shared with
    monkeypatch.setenv("DRIVE_FOLDER_ID", ROOT)
    assert probe(DriveResource.from_settings())["ok"] is True


def test_nothing_listening_fails_naming_drive_base_url(
    fake: FakeDrive, monkeypatch: pytest.MonkeyPatch, warehouse_resource: WarehouseResource
) -> None:
    base = f"http://127.0.0.1:{closed_port()}/"
    monkeypatch.setenv("DRIVE_BASE_URL", base)
    drive = DriveResource.from_settings(attempts=2, max_wait_s=0.01)
    result = materialize(warehouse_resource, drive=drive, raise_on_error=False)
    assert not result.success
    text = failure_text(result)
    assert "ConnectionRefusedError after 2 attempts" in text and base in text
    assert "check DRIVE_BASE_URL" in text
    assert "check DRIVE_FOLDER_ID" not in text  # the folder is not what is wrong
    reason = probe(drive)["reason"]
    assert "check DRIVE_BASE_URL" in reason and base in reason


def test_a_server_that_never_answers_times_out_naming_the_settings(
    fake: FakeDrive, monkeypatch: pytest.MonkeyPatch, warehouse_resource: WarehouseResource
) -> None:
    fake.faults = Faults(timeout_rate=1.0, timeout_hold_s=3.0)
    drive = DriveResource.from_settings(attempts=2, max_wait_s=0.01, timeout_s=0.5)
    t0 = time.monotonic()
    result = materialize(warehouse_resource, drive=drive, raise_on_error=False)
    elapsed = time.monotonic() - t0
    assert not result.success
    text = failure_text(result)
    assert "after 2 attempts" in text and "DRIVE_TIMEOUT_S is 0.5 s" in text
    assert "DRIVE_BASE_URL" in text or "DRIVE_TOKEN_URI" in text  # the token call may be the first
    assert elapsed < 30  # bounded by the timeout, not the server's 3 s hold per request


def test_a_token_endpoint_that_keeps_failing_names_drive_token_uri(
    fake: FakeDrive, warehouse_resource: WarehouseResource
) -> None:
    """It ended with the raw RefreshError, its response body dumped, and status said
    "Drive unreachable (RefreshError)"."""
    fake.faults = Faults(rate=1.0, statuses=(503,))
    drive = DriveResource.from_settings(attempts=2, max_wait_s=0.01)
    result = materialize(warehouse_resource, drive=drive, raise_on_error=False)
    text = failure_text(result)
    # (The endpoint itself shows as *** here: it comes from the service-account JSON, a secret
    # whose every value is masked.)
    assert "Google's token endpoint" in text and "gave no token after 2 attempts (UNAVAILABLE)" in text
    assert "check DRIVE_TOKEN_URI" in text and "DRIVE_SERVICE_ACCOUNT_JSON" in text
    reason = probe(drive)["reason"]
    assert "check DRIVE_TOKEN_URI" in reason and "DRIVE_FOLDER_ID" not in reason
