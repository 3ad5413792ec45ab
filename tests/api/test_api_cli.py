"""``chitty-sync token create|list|revoke`` and ``serve`` as a user runs them: the token printed
once and stored only hashed, revocation effective at once, no-auth only on loopback, an access
log without tokens, and a graceful stop."""

from __future__ import annotations

import hashlib
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import httpx
import psycopg

from tests.api.conftest import Server, start_server


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "chitty_pipelines.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _stored(server: Server, sql: str) -> list[tuple]:
    """Rows of the server's hub store read with the database's own client (not the store's
    code): the SQLite file, or the ops schema of its PostgreSQL warehouse."""
    if server.warehouse_url:
        with psycopg.connect(server.warehouse_url) as con:
            return [tuple(r) for r in con.execute(sql.format(api_tokens="ops.api_tokens")).fetchall()]
    con = sqlite3.connect(server.home / "opstore.sqlite")
    try:
        return con.execute(sql.format(api_tokens="api_tokens")).fetchall()
    finally:
        con.close()


def _stored_bytes(server: Server) -> str:
    """Everything the hub store holds about tokens, as text (the whole file on SQLite)."""
    if server.warehouse_url:
        return repr(_stored(server, "SELECT * FROM {api_tokens}"))
    return (server.home / "opstore.sqlite").read_bytes().decode("latin-1")


def test_tokens_are_stored_hashed_scoped_and_revocable(tmp_path: Path) -> None:
    server = start_server(tmp_path)
    try:
        made = _cli(server.env, "token", "create", "--name", "laptop", "--scope", "write")
        assert made.returncode == 0, made.stderr
        token = made.stdout.strip()
        assert token.startswith("chs_") and len(token) > 40 and "\n" not in token
        raw = _stored(server, "SELECT token_hash, scope FROM {api_tokens} WHERE name = 'laptop'")
        assert raw == [(hashlib.sha256(token.encode()).hexdigest(), "write")]
        assert token not in _stored_bytes(server)
        assert _cli(server.env, "token", "create", "--name", "laptop").returncode == 1  # exists
        assert _cli(server.env, "token", "create", "--name", "x", "--scope", "root").returncode == 2

        headers = {"Authorization": f"Bearer {token}"}
        assert (
            httpx.post(f"{server.url}/api/session", json={"id": "cli-1"}, headers=headers).status_code == 201
        )
        assert httpx.post(f"{server.url}/api/sync", headers=headers).status_code == 403  # write < sync

        used = _stored(server, "SELECT last_used_at FROM {api_tokens} WHERE name = 'laptop'")[0][0]
        assert used  # recorded (at most once a minute per token)
        listed = _cli(server.env, "token", "list")
        assert "laptop" in listed.stdout and token not in listed.stdout

        assert _cli(server.env, "token", "revoke", "laptop").returncode == 0
        assert httpx.get(f"{server.url}/api/status", headers=headers).status_code == 401
        assert _cli(server.env, "token", "revoke", "nobody").returncode == 1

        explicit = _cli(server.env, "token", "create", "--name", "ci", "--scope", "read,sync").stdout.strip()
        h = {"Authorization": f"Bearer {explicit}"}
        assert httpx.get(f"{server.url}/api/status", headers=h).status_code == 200
        assert httpx.post(f"{server.url}/api/session", json={"id": "cli-2"}, headers=h).status_code == 403
    finally:
        # SIGTERM: uvicorn finishes in-flight requests, runs the shutdown, then re-raises the
        # signal (so the exit status says how it ended)
        assert server.stop() in (0, -signal.SIGTERM)
    log = server.log.read_text()
    assert "Application shutdown complete" in log and "Finished server process" in log
    for t in (token, explicit, *server.tokens.values()):
        assert t not in log
    assert "token=laptop" in log and '"POST /api/session" 201' in log


def test_no_auth_only_on_loopback(tmp_path: Path) -> None:
    env = {**start_env(tmp_path)}
    refused = _cli(env, "serve", "--host", "0.0.0.0", "--port", "1", "--no-auth")
    assert refused.returncode == 2
    assert "refusing --no-auth on 0.0.0.0" in refused.stderr

    server = start_server(tmp_path / "loop", args=("--no-auth",))
    try:
        assert httpx.get(f"{server.url}/api/status").status_code == 200
        assert httpx.post(f"{server.url}/api/session", json={"id": "na-1"}).status_code == 201
    finally:
        server.process.send_signal(signal.SIGINT)
        assert server.process.wait(20) in (0, 130, -signal.SIGINT)  # Ctrl-C: 130, the shell convention
    assert "authentication is OFF" in server.log.read_text()


def start_env(tmp_path: Path) -> dict[str, str]:
    import os

    return {**os.environ, "CHITTY_HOME": str(tmp_path / "chitty")}
