"""The operational store (registered projects and sessions, and the sync API's hub tables) as a
Dagster resource; where it lives is opstore_location.py's."""

from __future__ import annotations

import dagster as dg
from pydantic import Field

from chitty_pipelines import config
from chitty_pipelines.warehouse.hubstore import HubStore
from chitty_pipelines.warehouse.opstore_location import URL_VAR, default_path


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
