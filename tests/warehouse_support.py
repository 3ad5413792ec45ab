"""Helpers for tests that run on either warehouse backend (see conftest.py, --warehouse)."""

from __future__ import annotations

from pathlib import Path

from chitty_pipelines.warehouse import Warehouse


def open_warehouse(env: dict[str, str]) -> Warehouse:
    """The warehouse a CLI subprocess with environment ``env`` wrote to (DuckDB or PostgreSQL)."""
    home = Path(env["CHITTY_HOME"])
    return Warehouse(home / "warehouse.duckdb", url=env.get("CHITTY_WAREHOUSE_URL"))


# Tests that hand a CLI subprocess a cleaned environment keep this one variable: under
# --warehouse=postgres it names the test's own database (conftest.chitty_home sets it).
WAREHOUSE_URL = "CHITTY_WAREHOUSE_URL"
