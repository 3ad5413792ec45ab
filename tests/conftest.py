"""Shared fixtures: an isolated CHITTY_HOME per test, the warehouse on it, the samples folder."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

# Before anything imports chitty_pipelines.definitions (which builds its resources from the
# environment once, at import): point every data location at a throwaway folder, so no test can
# ever read or write the developer's real ~/.chitty, ~/.claude or Dagster instance.
_SANDBOX = Path(tempfile.mkdtemp(prefix="chitty-tests-"))
for _name, _sub in (("CHITTY_HOME", "chitty"), ("CLAUDE_HOME", "claude"), ("CHITTY_EXPORTS_DIR", "exports")):
    os.environ[_name] = str(_SANDBOX / _sub)
for _name in ("CHITTY_WAREHOUSE_PATH", "CLAUDE_CONFIG_DIR", "DAGSTER_HOME", "CHITTY_OPSTORE_PATH"):
    os.environ.pop(_name, None)

from chitty_pipelines.warehouse import Warehouse  # noqa: E402
from chitty_pipelines.warehouse.resource import WarehouseResource  # noqa: E402 (after the sandbox)

SAMPLES = Path(__file__).resolve().parents[1].parent / "shared" / "samples"


@pytest.fixture
def chitty_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private CHITTY_HOME; every variable that could point at the user's real data is reset."""
    home = tmp_path / "chitty"
    home.mkdir()
    monkeypatch.setenv("CHITTY_HOME", str(home))
    for name in (
        "CHITTY_WAREHOUSE_PATH",
        "CLAUDE_HOME",
        "CLAUDE_CONFIG_DIR",
        "CHITTY_EXPORTS_DIR",
        "DAGSTER_HOME",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CLAUDE_HOME", str(tmp_path / "claude"))
    return home


@pytest.fixture
def warehouse_resource(chitty_home: Path) -> WarehouseResource:
    return WarehouseResource(path=str(chitty_home / "warehouse.duckdb"), lock_timeout_s=120)


@pytest.fixture
def warehouse(warehouse_resource: WarehouseResource) -> Warehouse:
    return warehouse_resource.get()


@pytest.fixture
def samples() -> Path:
    if not SAMPLES.is_dir():
        pytest.skip(f"conformance samples not found at {SAMPLES}")
    return SAMPLES


@pytest.fixture(scope="session")
def postgres_dsn():
    """A real PostgreSQL superuser DSN for the session (tests/postgres_harness.py): the
    CHITTY_TEST_POSTGRES_DSN server, else a private throwaway cluster, else pgserver. Tests make
    their own database with ``postgres_harness.fresh_database(postgres_dsn)``."""
    from postgres_harness import postgres_server

    with postgres_server() as dsn:
        yield dsn
