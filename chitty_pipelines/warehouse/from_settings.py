"""The warehouse the settings name (CHITTY_WAREHOUSE_URL, else $CHITTY_HOME/warehouse.duckdb),
for code outside Dagster runs: the CLI's reading commands open it here without importing Dagster,
which WarehouseResource (resource.py, the same settings) needs."""

from __future__ import annotations

from chitty_pipelines import config
from chitty_pipelines.warehouse.backend import URL_ENV as URL_VAR
from chitty_pipelines.warehouse.store import Warehouse


def memory_limit() -> str | None:
    """CHITTY_DUCKDB_MEMORY_LIMIT, checked by DuckDB itself on an in-memory database: a value it
    refuses is named now, not as a parser error of every platform's step."""
    value = config.env("CHITTY_DUCKDB_MEMORY_LIMIT")
    if value is None:
        return None
    import duckdb

    try:
        duckdb.connect(":memory:", config={"memory_limit": value}).close()
    except duckdb.Error as exc:
        raise config.ConfigError(
            f"CHITTY_DUCKDB_MEMORY_LIMIT={value!r} is not a memory size DuckDB accepts "
            f"({str(exc).splitlines()[0]}): set it like 512MB or 2GB, or unset it"
        ) from None
    return value


def warehouse_from_settings() -> Warehouse:
    """The same warehouse ``WarehouseResource.from_settings().get()`` gives."""
    settings = config.load_settings()
    return Warehouse(
        str(settings.warehouse_path), settings.lock_timeout_s, memory_limit(), url=config.env(URL_VAR)
    )
