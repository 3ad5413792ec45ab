"""Neon never hangs (issue 15): a server that accepts the connection and never answers fails the
step within NEON_CONNECT_TIMEOUT_S (pytest-timeout turns a hang into a failure), and
NEON_STATEMENT_TIMEOUT_S reaches the server as statement_timeout."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import psycopg
import pytest
from neon_helpers import materialize, neon_database, resource

from chitty_pipelines.platforms.neon.resource import NeonResource
from chitty_pipelines.platforms.neon.stream_config import StreamSpec


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP port that accepts connections and never sends a byte (a hung server, a black hole)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    listener.close()


@pytest.mark.timeout(60)
def test_a_server_that_never_answers_fails_the_step_within_the_timeout(
    silent_server: int, warehouse_resource, monkeypatch: pytest.MonkeyPatch
):
    dsn = f"postgresql://reader:pw-never-shown@127.0.0.1:{silent_server}/events?sslmode=disable"
    monkeypatch.setenv("NEON_DATABASE_URL", dsn)
    monkeypatch.setenv("NEON_CONNECT_TIMEOUT_S", "1")
    neon = NeonResource.from_settings()
    assert neon.connect_timeout_s == 1
    spec = StreamSpec(name="ledger", schema="public", table="ledger")
    result = materialize([spec], neon, warehouse_resource, raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    text = str(failure.event_specific_data.error)
    assert "timeout" in text.lower() and "pw-never-shown" not in text
    assert "NEON_CONNECT_TIMEOUT_S=1 s" in text and "NEON_DATABASE_URL" in text  # what to change


@pytest.mark.timeout(60)
def test_statement_timeout_reaches_the_server(postgres_dsn, monkeypatch: pytest.MonkeyPatch):
    for _dsn in neon_database(postgres_dsn, monkeypatch):
        monkeypatch.setenv("NEON_STATEMENT_TIMEOUT_S", "0.5")
        neon = NeonResource.from_settings()
        with neon.connect() as con:
            assert con.execute("SHOW statement_timeout").fetchone()[0] == "500ms"
            with pytest.raises(psycopg.errors.QueryCanceled):
                con.execute("SELECT pg_sleep(5)")
        assert "statement_timeout=500" in neon.adbc_uri()  # the COPY extracts too
        monkeypatch.delenv("NEON_STATEMENT_TIMEOUT_S")
        with resource().connect() as con:  # unset: none
            assert con.execute("SHOW statement_timeout").fetchone()[0] == "0"
