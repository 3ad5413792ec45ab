"""A real ``chitty-sync serve`` on a free loopback port, in its own process, with its own
CHITTY_HOME; tokens of every scope created the way ``chitty-sync token create`` stores them."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from chitty_pipelines.api.auth import hash_token, new_token
from chitty_pipelines.warehouse.hubstore import HubStore

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

    @property
    def hub(self) -> HubStore:
        return HubStore(self.home / "opstore.sqlite")

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
    hub = HubStore(home / "opstore.sqlite")
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
    server = Server(f"http://127.0.0.1:{port}", home, env, process, log, tokens)
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
