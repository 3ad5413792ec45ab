"""Helpers for tests that run on either warehouse backend (see conftest.py, --warehouse)."""

from __future__ import annotations

import atexit
import hashlib
import os
from pathlib import Path

from chitty_pipelines.warehouse import Warehouse
from chitty_pipelines.warehouse.resource import WarehouseResource


def open_warehouse(env: dict[str, str]) -> Warehouse:
    """The warehouse a CLI subprocess with environment ``env`` wrote to (DuckDB or PostgreSQL)."""
    home = Path(env["CHITTY_HOME"])
    return Warehouse(home / "warehouse.duckdb", url=env.get("CHITTY_WAREHOUSE_URL"))


# Tests that hand a CLI subprocess a cleaned environment keep this one variable: under
# --warehouse=postgres it names the test's own database (conftest.chitty_home sets it).
WAREHOUSE_URL = "CHITTY_WAREHOUSE_URL"


def on_postgres() -> bool:
    """--warehouse=postgres (conftest sets CHITTY_TEST_WAREHOUSE for the session)."""
    return os.environ.get("CHITTY_TEST_WAREHOUSE") == "postgres"


_DATABASES: dict[str, str] = {}


def url_for(path: Path | str) -> str | None:
    """Under --warehouse=postgres, one private database per DuckDB path a test names (so tests
    that compare two warehouses get two); None on DuckDB. Dropped when the session ends."""
    if not on_postgres():
        return None
    key = str(Path(path).resolve())
    if key not in _DATABASES:
        import psycopg
        from postgres_harness import ENV_DSN, with_database
        from psycopg import sql

        dsn = os.environ[ENV_DSN]
        name = "p_" + hashlib.sha1(key.encode()).hexdigest()[:20]
        with psycopg.connect(dsn, autocommit=True) as con:
            con.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
            con.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        _DATABASES[key] = with_database(dsn, name)
        atexit.register(_drop, dsn, name)
    return _DATABASES[key]


def _drop(dsn: str, name: str) -> None:
    import contextlib

    import psycopg
    from psycopg import sql

    with contextlib.suppress(Exception), psycopg.connect(dsn, autocommit=True, connect_timeout=5) as con:
        con.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def warehouse_at(path: Path | str, **kwargs: object) -> Warehouse:
    """``Warehouse(path)``, or a private PostgreSQL database standing for it."""
    return Warehouse(path, url=url_for(path), **kwargs)  # type: ignore[arg-type]


def warehouse_resource_at(path: Path | str, **kwargs: object) -> WarehouseResource:
    """``WarehouseResource(path=...)``, or a private PostgreSQL database standing for it."""
    return WarehouseResource(path=str(path), url=url_for(path), **kwargs)  # type: ignore[arg-type]
