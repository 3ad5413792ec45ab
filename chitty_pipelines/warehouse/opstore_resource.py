"""The operational store (registered projects and sessions) as a Dagster resource."""

from __future__ import annotations

import dagster as dg
from pydantic import Field

from chitty_pipelines import config
from chitty_pipelines.warehouse.hubstore import HubStore


def default_path() -> str:
    home = config.load_settings().chitty_home
    return str(config.env("CHITTY_OPSTORE_PATH") or home / "opstore.sqlite")


class OpStoreResource(dg.ConfigurableResource):
    """SQLite (WAL) store written by ``chitty-sync projectsync`` / ``sessionsync`` and the sync API."""

    path: str = Field(description="SQLite file; defaults to $CHITTY_HOME/opstore.sqlite.")
    busy_timeout_s: float = Field(default=30.0, description="How long a writer waits for another.")

    @classmethod
    def from_settings(cls) -> OpStoreResource:
        return cls(path=default_path())

    def get(self) -> HubStore:
        """The store with the sync API's tables too (todo lists posted to ``chitty-sync serve``)."""
        return HubStore(self.path, self.busy_timeout_s)
