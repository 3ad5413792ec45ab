"""Helpers for tests that run on either warehouse backend (see conftest.py, --warehouse)."""

from __future__ import annotations

from pathlib import Path

from chitty_pipelines.warehouse import Warehouse


def open_warehouse(env: dict[str, str]) -> Warehouse:
    """The warehouse a CLI subprocess with environment ``env`` wrote to (DuckDB or PostgreSQL)."""
    home = Path(env["CHITTY_HOME"])
    return Warehouse(home / "warehouse.duckdb", url=env.get("CHITTY_WAREHOUSE_URL"))
