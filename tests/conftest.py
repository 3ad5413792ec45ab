"""Shared fixtures: an isolated CHITTY_HOME per test, the warehouse on it, the samples folder."""

from __future__ import annotations

import os
import signal
import tempfile
from pathlib import Path

import pytest

# Before anything imports chitty_pipelines.definitions (which builds its resources from the
# environment once, at import): point every data location at a throwaway folder, so no test can
# ever read or write the developer's real ~/.chitty, ~/.claude or Dagster instance.
_SANDBOX = Path(tempfile.mkdtemp(prefix="chitty-tests-"))
for _name, _sub in (("CHITTY_HOME", "chitty"), ("CLAUDE_HOME", "claude"), ("CHITTY_EXPORTS_DIR", "exports")):
    os.environ[_name] = str(_SANDBOX / _sub)
for _name in (
    "CHITTY_WAREHOUSE_PATH",
    "CLAUDE_CONFIG_DIR",
    "DAGSTER_HOME",
    "CHITTY_OPSTORE_PATH",
    "CHITTY_WAREHOUSE_URL",
):
    os.environ.pop(_name, None)

from chitty_pipelines.warehouse import Warehouse  # noqa: E402
from chitty_pipelines.warehouse.resource import WarehouseResource  # noqa: E402 (after the sandbox)

SAMPLES = Path(__file__).resolve().parents[1].parent / "shared" / "samples"

# The whole suite runs on either warehouse: `pytest --warehouse=postgres` (or
# CHITTY_TEST_WAREHOUSE=postgres) gives every test its own PostgreSQL database on one throwaway
# cluster (tests/postgres_harness.py; CHITTY_TEST_POSTGRES_DSN when set) through
# CHITTY_WAREHOUSE_URL, so the warehouse and the op store of the code under test, of the CLI in
# subprocesses and of Dagster's step processes are all PostgreSQL.
_PG: dict[str, object] = {}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--warehouse",
        choices=("duckdb", "postgres"),
        default=os.environ.get("CHITTY_TEST_WAREHOUSE") or "duckdb",
        help="warehouse backend every test runs on (default duckdb; env CHITTY_TEST_WAREHOUSE)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "duckdb_only(reason): the test is about DuckDB itself")
    # Started as a background job (`.ci/run &` from a script), this process inherits SIGINT
    # ignored. After every run in the main thread, Dagster points SIGTERM at SIGINT's handler
    # (dagster._utils.interrupts.setup_interrupt_handlers), so SIGTERM became ignored too, and
    # every later subprocess inherited that: Dagster's compute-log `tail` processes could no
    # longer be stopped, and each step waited 30 s for them. Ctrl-C's usual handler avoids it.
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if config.getoption("--warehouse") != "postgres":
        return
    from contextlib import ExitStack

    from postgres_harness import ENV_DSN, fresh_database, postgres_server

    stack = ExitStack()
    dsn = stack.enter_context(postgres_server())
    os.environ[ENV_DSN] = dsn  # fixtures and subprocesses reuse this one server
    os.environ["CHITTY_TEST_WAREHOUSE"] = "postgres"  # tests/warehouse_support.py reads it
    os.environ["CHITTY_WAREHOUSE_URL"] = stack.enter_context(fresh_database(dsn, prefix="session"))
    _PG.update(stack=stack, dsn=dsn)


def pytest_unconfigure(config: pytest.Config) -> None:
    stack = _PG.pop("stack", None)
    if stack is not None:
        stack.close()  # type: ignore[attr-defined]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--warehouse") != "postgres":
        return
    for item in items:
        marker = item.get_closest_marker("duckdb_only")
        if marker is not None:
            reason = marker.args[0] if marker.args else marker.kwargs.get("reason", "DuckDB only")
            item.add_marker(pytest.mark.skip(reason=f"DuckDB only: {reason}"))


def on_postgres() -> bool:
    return "dsn" in _PG


@pytest.fixture(autouse=True)
def warehouse_url(monkeypatch: pytest.MonkeyPatch) -> str | None:
    """A private PostgreSQL database for every test in --warehouse=postgres mode (also in
    CHITTY_WAREHOUSE_URL, so CLI subprocesses and Dagster step processes use it), else None."""
    if not on_postgres():
        yield None
        return
    from postgres_harness import fresh_database

    with fresh_database(str(_PG["dsn"]), prefix="w") as url:
        monkeypatch.setenv("CHITTY_WAREHOUSE_URL", url)
        yield url


@pytest.fixture
def new_warehouse_url():
    """Factory: a further private PostgreSQL database per call in --warehouse=postgres mode (for
    tests that compare two warehouses), else None; all dropped after the test."""
    if not on_postgres():
        yield lambda: None
        return
    from contextlib import ExitStack

    from postgres_harness import fresh_database

    with ExitStack() as stack:
        yield lambda: stack.enter_context(fresh_database(str(_PG["dsn"]), prefix="w"))


@pytest.fixture
def chitty_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, warehouse_url: str | None) -> Path:
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
    if warehouse_url:  # the autouse fixture set it already; kept explicit for readers
        monkeypatch.setenv("CHITTY_WAREHOUSE_URL", warehouse_url)
    return home


@pytest.fixture
def warehouse_resource(chitty_home: Path, warehouse_url: str | None) -> WarehouseResource:
    return WarehouseResource(
        path=str(chitty_home / "warehouse.duckdb"), lock_timeout_s=120, url=warehouse_url
    )


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
