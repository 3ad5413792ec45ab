"""Shared pieces of the Drive tests: an RSA service-account key, the seeded folder tree, and a
helper that materializes the Drive assets with the real Dagster runtime."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import dagster as dg
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from chitty_pipelines.kernel.fake_server import Faults
from chitty_pipelines.platforms.drive import assets as drive_assets
from chitty_pipelines.platforms.drive.fake import FakeDrive
from chitty_pipelines.platforms.drive.resource import DriveResource
from chitty_pipelines.warehouse import Warehouse
from chitty_pipelines.warehouse.resource import WarehouseResource

ROOT = "0BchittyosDataRoot"
SA_EMAIL = "chitty-sync@chitty-test.iam.gserviceaccount.com"
BROKEN_JSON = '{"name": "broken", '


@dataclass
class ServiceAccountKey:
    private_pem: str
    public_key: Any

    def info(self, token_uri: str) -> dict[str, str]:
        return {
            "type": "service_account",
            "project_id": "chitty-test",
            "private_key_id": "k1",
            "private_key": self.private_pem,
            "client_email": SA_EMAIL,
            "client_id": "1234567890",
            "token_uri": token_uri,
        }


_KEY: ServiceAccountKey | None = None


def service_account_key() -> ServiceAccountKey:
    """One RSA key per test session (generation is the slow part)."""
    global _KEY
    if _KEY is None:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        _KEY = ServiceAccountKey(pem, key.public_key())
    return _KEY


def seed(fake: FakeDrive) -> dict[str, str]:
    """The chittyos-data folder: 12 items below the root, plus files outside it."""
    ids: dict[str, str] = {}
    fake.add_folder("chittyos-data", file_id=ROOT)
    ids["projects"] = fake.add_folder("projects", ROOT, file_id="fprojects")
    ids["alpha.json"] = fake.add(
        "alpha.json",
        ids["projects"],
        content='{"name": "alpha", "status": "active"}',
        mime_type="application/json",
        file_id="jalpha",
    )
    ids["beta.json"] = fake.add(
        "beta.json",
        ids["projects"],
        content='{"name": "beta"}',
        mime_type="application/json",
        file_id="jbeta",
    )
    ids["broken.json"] = fake.add(
        "broken.json", ids["projects"], content=BROKEN_JSON, mime_type="application/json", file_id="jbroken"
    )
    ids["consolidated"] = fake.add_folder("consolidated", ROOT, file_id="fconsolidated")
    ids["consolidated/alpha"] = fake.add_folder("alpha", ids["consolidated"], file_id="fcalpha")
    ids["state.json"] = fake.add(
        "state.json",
        ids["consolidated/alpha"],
        content='{"todos": 3}',
        mime_type="application/json",
        file_id="jstate",
    )
    ids["notes"] = fake.add_folder("notes", ROOT, file_id="fnotes")
    ids["readme.md"] = fake.add(
        "readme.md", ids["notes"], content="# Notes\n\nhello", mime_type="text/markdown", file_id="mreadme"
    )
    ids["todo.txt"] = fake.add("todo.txt", ids["notes"], content="buy milk", file_id="ttodo")
    ids["Design Doc"] = fake.add_doc("Design Doc", ids["notes"], "Design\nLine two", file_id="ddesign")
    ids["photo.png"] = fake.add(
        "photo.png",
        ids["notes"],
        content=b"\x89PNG\r\n\x1a\n" + bytes(range(40)),
        mime_type="image/png",
        file_id="bphoto",
    )
    ids["big.txt"] = fake.add("big.txt", ids["notes"], content="x" * 1500, file_id="tbig")
    ids["elsewhere"] = fake.add_folder("elsewhere", file_id="felsewhere")
    ids["private.txt"] = fake.add("private.txt", ids["elsewhere"], content="not ours", file_id="tprivate")
    return ids


def start_fake(faults: Faults | None = None) -> FakeDrive:
    fake = FakeDrive(faults)
    fake.start()
    fake.register_service_account(SA_EMAIL, service_account_key().public_key)
    return fake


@contextlib.contextmanager
def seeded_fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeDrive]:
    """A started fake Drive with the seed's files, the environment pointing at it; stopped after."""
    fake = start_fake()
    try:
        seed(fake)
        set_env(monkeypatch, fake)
        yield fake
    finally:
        fake.stop()


def set_env(monkeypatch: pytest.MonkeyPatch, fake: FakeDrive, **extra: str) -> None:
    """Configure Drive through the environment, exactly as a user would."""
    for name in (
        "DRIVE_AUTHORIZED_USER_JSON",
        "DRIVE_REFRESH_TOKEN",
        "DRIVE_SHARED_DRIVE_ID",
        "DRIVE_TOKEN_URI",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DRIVE_SERVICE_ACCOUNT_JSON", json.dumps(service_account_key().info(fake.token_uri)))
    monkeypatch.setenv("DRIVE_FOLDER_ID", ROOT)
    monkeypatch.setenv("DRIVE_BASE_URL", fake.base_url + "/")
    monkeypatch.setenv("DRIVE_CONTENT_MAX_BYTES", "1000")
    for name, value in extra.items():
        monkeypatch.setenv(name, value)


def materialize(
    warehouse_resource: WarehouseResource,
    *,
    drive: DriveResource | None = None,
    full_refresh: bool = False,
    checks: bool = False,
    raise_on_error: bool = True,
) -> dg.ExecuteInProcessResult:
    # The checks run in raw_drive_sync's own step; without ``checks`` the run selects none of them.
    return dg.materialize(
        drive_assets.DRIVE_ASSETS,
        selection=None if checks else dg.AssetSelection.all().without_checks(),
        resources={"drive": drive or DriveResource.from_settings(), "warehouse": warehouse_resource},
        run_config={"ops": {"raw_drive_sync": {"config": {"full_refresh": full_refresh}}}},
        raise_on_error=raise_on_error,
    )


def rows(warehouse: Warehouse, sql: str) -> list[tuple]:
    with warehouse.connect() as con:
        return con.execute(sql).fetchall()


def files_table(warehouse: Warehouse, columns: str = "path, mime_type, size_bytes, trashed") -> list[tuple]:
    return rows(warehouse, f"SELECT {columns} FROM raw_drive.files ORDER BY path")


def contents_table(warehouse: Warehouse) -> list[tuple]:
    return rows(
        warehouse,
        "SELECT f.path, c.format, c.text, c.json, c.valid_json, c.skipped_reason "
        "FROM raw_drive.file_contents c "
        "JOIN raw_drive.files f ON f.id = c.file_id ORDER BY f.path",
    )


def api_requests(fake: FakeDrive) -> dict[str, int]:
    return {k: v for k, v in sorted(fake.requests.items()) if v}
