"""A real ``chitty-sync serve`` on a free loopback port, in its own process, with its own
CHITTY_HOME (and, with --warehouse=postgres, its own PostgreSQL database: warehouse and hub store);
tokens of every scope created the way ``chitty-sync token create`` stores them."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from chitty_pipelines.api.auth import hash_token, new_token
from chitty_pipelines.warehouse.hubstore import HubStore
from chitty_pipelines.warehouse.opstore_resource import OpStoreResource
from chitty_pipelines.warehouse.resource import WarehouseResource

SCOPES = ("read", "write", "sync", "admin")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    url: str
    home: Path
    env: dict[str, str]
    process: subprocess.Popen
    log: Path
    tokens: dict[str, str] = field(default_factory=dict)
    warehouse_url: str | None = None  # --warehouse=postgres: the server's own database
    _stack: ExitStack = field(default_factory=ExitStack)

    @property
    def hub(self) -> HubStore:
        """The server's hub store, opened as the server opens it."""
        return hub_of(self.home, self.warehouse_url)

    def warehouse_resource(self) -> WarehouseResource:
        """The server's warehouse: the DuckDB file under its home, or its PostgreSQL database."""
        path = str(self.home / "warehouse.duckdb")
        return WarehouseResource(path=path, lock_timeout_s=60, url=self.warehouse_url)

    def opstore_resource(self) -> OpStoreResource:
        return OpStoreResource(path=str(self.home / "opstore.sqlite"), url=self.warehouse_url)

    def client(self, scope: str | None = "admin", **kw) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.tokens[scope]}"} if scope else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30, **kw)

    def stop(self) -> int:
        self.process.terminate()
        try:
            return self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(5)
        finally:
            self._stack.close()  # drops the server's database (postgres)


def hub_of(home: Path, warehouse_url: str | None) -> HubStore:
    return HubStore(url=warehouse_url) if warehouse_url else HubStore(home / "opstore.sqlite")


def start_server(tmp: Path, extra_env: dict[str, str] | None = None, args: tuple[str, ...] = ()) -> Server:
    home = tmp / "chitty"
    home.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "CHITTY_HOME": str(home),
        "CLAUDE_HOME": str(tmp / "claude"),
        "CHITTY_EXPORTS_DIR": str(tmp / "exports"),
        **(extra_env or {}),
    }
    for name in ("CHITTY_WAREHOUSE_PATH", "DAGSTER_HOME", "CHITTY_OPSTORE_PATH", "CLAUDE_CONFIG_DIR"):
        env.pop(name, None)
    stack = ExitStack()
    if os.environ.get("CHITTY_TEST_WAREHOUSE") == "postgres":
        # A database of its own: a module-scoped server must not share the session's database
        # (tokens and sessions of another module's server) nor lose its data between tests.
        from postgres_harness import ENV_DSN, fresh_database

        env["CHITTY_WAREHOUSE_URL"] = stack.enter_context(fresh_database(os.environ[ENV_DSN], "api"))
    url = env.get("CHITTY_WAREHOUSE_URL")
    hub = hub_of(home, url)
    tokens = {}
    for scope in SCOPES:
        token = new_token()
        hub.add_token(f"test-{scope}", hash_token(token), scope)
        tokens[scope] = token
    port = free_port()
    log = tmp / f"serve-{port}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "chitty_pipelines.cli", "serve", "--port", str(port), *args],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = Server(f"http://127.0.0.1:{port}", home, env, process, log, tokens, url, stack)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"{server.url}/health", timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            time.sleep(0.2)
    server.stop()
    raise RuntimeError(f"server did not answer: {log.read_text()[-2000:]}")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    s = start_server(tmp_path_factory.mktemp("api"))
    yield s
    s.stop()
