"""The warehouse as a Dagster resource."""

from __future__ import annotations

import dagster as dg
from pydantic import Field

from chitty_pipelines.config import env, load_settings
from chitty_pipelines.warehouse import Warehouse


class WarehouseResource(dg.ConfigurableResource):
    """The embedded DuckDB warehouse (schemas ``raw_<platform>``, ``unified``, ``ops``)."""

    path: str = Field(description="DuckDB file; defaults to $CHITTY_HOME/warehouse.duckdb.")
    lock_timeout_s: float = Field(
        default=600.0, description="How long a writer waits for another process's lock."
    )
    memory_limit: str | None = Field(
        default=None, description="DuckDB memory_limit (e.g. '512MB'); None = DuckDB's default."
    )

    @classmethod
    def from_settings(cls) -> WarehouseResource:
        settings = load_settings()
        return cls(
            path=str(settings.warehouse_path),
            lock_timeout_s=settings.lock_timeout_s,
            memory_limit=env("CHITTY_DUCKDB_MEMORY_LIMIT"),
        )

    def get(self) -> Warehouse:
        return Warehouse(self.path, self.lock_timeout_s, self.memory_limit)
