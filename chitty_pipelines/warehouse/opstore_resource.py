"""The operational store (registered projects and sessions, and the sync API's hub tables) as a
Dagster resource, and the one place that picks its backend."""

from __future__ import annotations

import dagster as dg
from pydantic import Field

from chitty_pipelines import config
from chitty_pipelines.warehouse.hubstore import HubStore

URL_VAR = "CHITTY_WAREHOUSE_URL"


def default_path() -> str:
    home = config.load_settings().chitty_home
    return str(config.env("CHITTY_OPSTORE_PATH") or home / "opstore.sqlite")


def default_store(keep_open: bool = False) -> HubStore:
    """The ``ops`` schema of the PostgreSQL warehouse when CHITTY_WAREHOUSE_URL is set (nothing
    on local disk), else the SQLite file under $CHITTY_HOME. The CLI, ``chitty-sync serve`` and
    the assets all open it here, so they always share one store. ``keep_open``: a long-running
    server keeps one connection per thread."""
    url = config.env(URL_VAR)
    return HubStore(url=url, keep_open=keep_open) if url else HubStore(default_path(), keep_open=keep_open)


class OpStoreResource(dg.ConfigurableResource):
    """Registered projects and sessions (written by ``projectsync`` / ``sessionsync`` and the sync
    API) and the API's hub tables: SQLite (WAL) by default, the PostgreSQL warehouse's ``ops``
    schema when ``url`` is set."""

    path: str = Field(description="SQLite file; defaults to $CHITTY_HOME/opstore.sqlite.")
    busy_timeout_s: float = Field(default=30.0, description="How long a writer waits for another.")
    url: str | None = Field(
        default=None, description="PostgreSQL warehouse URL (CHITTY_WAREHOUSE_URL); None = SQLite."
    )

    @classmethod
    def from_settings(cls) -> OpStoreResource:
        return cls(path=default_path(), url=config.secret(URL_VAR))  # type: ignore[arg-type]

    def get(self) -> HubStore:
        url = self.url.get_value() if isinstance(self.url, dg.EnvVar) else self.url
        return HubStore(url=url) if url else HubStore(self.path, self.busy_timeout_s)
