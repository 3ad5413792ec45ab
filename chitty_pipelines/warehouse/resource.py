"""The warehouse as a Dagster resource."""

from __future__ import annotations

import dagster as dg
from pydantic import Field

from chitty_pipelines import config
from chitty_pipelines.config import load_settings
from chitty_pipelines.warehouse import Warehouse
from chitty_pipelines.warehouse.from_settings import URL_VAR
from chitty_pipelines.warehouse.from_settings import memory_limit as duckdb_memory_limit


class WarehouseResource(dg.ConfigurableResource):
    """The warehouse (schemas ``raw_<platform>``, ``unified``, ``ops``): embedded DuckDB, or
    PostgreSQL when ``url`` is set (from ``CHITTY_WAREHOUSE_URL``, a Dagster ``EnvVar`` so the
    password never lands in run config or the UI)."""

    path: str = Field(description="DuckDB file; defaults to $CHITTY_HOME/warehouse.duckdb.")
    lock_timeout_s: float = Field(
        default=600.0, description="How long a writer waits for another process's lock."
    )
    memory_limit: str | None = Field(
        default=None, description="DuckDB memory_limit (e.g. '512MB'); None = DuckDB's default."
    )
    url: str | None = Field(
        default=None, description="PostgreSQL warehouse URL (CHITTY_WAREHOUSE_URL); None = DuckDB."
    )

    @classmethod
    def from_settings(cls) -> WarehouseResource:
        settings = load_settings()
        return cls(
            path=str(settings.warehouse_path),
            lock_timeout_s=settings.lock_timeout_s,
            memory_limit=duckdb_memory_limit(),
            url=config.secret(URL_VAR),  # type: ignore[arg-type]  # EnvVar resolves at run time
        )

    @property
    def resolved_url(self) -> str | None:
        """Inside a run Dagster has resolved the EnvVar already; outside one (the CLI) it is
        resolved here."""
        value = self.url
        if isinstance(value, dg.EnvVar):
            return value.get_value()
        return value or None

    def get(self) -> Warehouse:
        return Warehouse(self.path, self.lock_timeout_s, self.memory_limit, url=self.resolved_url)
