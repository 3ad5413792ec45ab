"""The operational store (registered projects and sessions) as a Dagster resource."""

from __future__ import annotations

import dagster as dg
from pydantic import Field

from chitty_pipelines import config
from chitty_pipelines.warehouse.hubstore import HubStore
from chitty_pipelines.warehouse.opstore_pg import PgOpStore

URL_VAR = "CHITTY_WAREHOUSE_URL"


def default_path() -> str:
    home = config.load_settings().chitty_home
    return str(config.env("CHITTY_OPSTORE_PATH") or home / "opstore.sqlite")


def default_store() -> HubStore | PgOpStore:
    """The ``ops`` schema of the PostgreSQL warehouse when CHITTY_WAREHOUSE_URL is set (nothing
    on local disk), else the SQLite file under $CHITTY_HOME."""
    url = config.env(URL_VAR)
    return PgOpStore(url) if url else HubStore(default_path())


class OpStoreResource(dg.ConfigurableResource):
    """Registered projects and sessions (written by ``projectsync`` / ``sessionsync`` and the sync
    API): SQLite (WAL) by default, the PostgreSQL warehouse's ``ops`` schema when ``url`` is set
    (the API's own hub tables are SQLite-only so far)."""

    path: str = Field(description="SQLite file; defaults to $CHITTY_HOME/opstore.sqlite.")
    busy_timeout_s: float = Field(default=30.0, description="How long a writer waits for another.")
    url: str | None = Field(
        default=None, description="PostgreSQL warehouse URL (CHITTY_WAREHOUSE_URL); None = SQLite."
    )

    @classmethod
    def from_settings(cls) -> OpStoreResource:
        return cls(path=default_path(), url=config.secret(URL_VAR))  # type: ignore[arg-type]

    def get(self) -> HubStore | PgOpStore:
        """With SQLite, the store with the sync API's tables too (todo lists posted to
        ``chitty-sync serve``)."""
        url = self.url.get_value() if isinstance(self.url, dg.EnvVar) else self.url
        return PgOpStore(url) if url else HubStore(self.path, self.busy_timeout_s)
