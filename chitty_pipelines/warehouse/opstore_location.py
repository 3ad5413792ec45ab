"""Where the operational store lives: the ``ops`` schema of the PostgreSQL warehouse when
CHITTY_WAREHOUSE_URL is set, else a SQLite file under $CHITTY_HOME. Kept apart from the Dagster
resource (opstore_resource.py) so that the commands that only need the store, the Claude Code
hooks first of all (they run on every prompt), never import Dagster."""

from __future__ import annotations

from chitty_pipelines import config
from chitty_pipelines.warehouse.backend import URL_ENV as URL_VAR
from chitty_pipelines.warehouse.hubstore import HubStore


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
