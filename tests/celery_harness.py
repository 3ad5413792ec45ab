"""Distributed runs on Celery, for tests and bench/celery_workers: a throwaway Redis, Celery workers
in their own empty working directories, the demo organisation's environment on a PostgreSQL
warehouse and a dagster-postgres instance, and ``chitty-sync syncall`` as a user runs it.

Every process started here is in its own session and is stopped (SIGTERM, then SIGKILL) by the
context managers, whatever happened; every wait is bounded.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
CLI = [sys.executable, "-c", "from chitty_pipelines.cli import main; main()"]
SETUP_HINT = "run scripts/setup-redis (installs Debian's redis-server) and scripts/setup"


class CeleryUnavailable(RuntimeError):
    """redis-server or the celery command is missing (the message says what to run)."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _stop(proc: subprocess.Popen[Any], timeout: float = 15.0) -> None:
    """SIGTERM the process group, SIGKILL it after ``timeout``."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def redis_server_binary() -> str:
    found = shutil.which("redis-server") or (
        "/usr/bin/redis-server" if os.path.exists("/usr/bin/redis-server") else None
    )
    if found is None:
        raise CeleryUnavailable(f"redis-server is not installed: {SETUP_HINT}")
    if not (VENV_BIN / "celery").exists():
        raise CeleryUnavailable(f"the celery command is not in {VENV_BIN}: {SETUP_HINT}")
    return found


@contextlib.contextmanager
def redis_server(timeout: float = 20.0, password: str | None = None) -> Iterator[str]:
    """A private redis-server on a free port with no persistence (and ``password`` as its
    requirepass); yields ``redis://...`` with that password."""
    binary = redis_server_binary()
    tmp = Path(tempfile.mkdtemp(prefix="chitty-redis-"))
    port = free_port()
    cmd = [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(tmp)]
    cmd += ["--save", "", "--appendonly", "no", "--daemonize", "no", "--protected-mode", "no"]
    if password:
        cmd += ["--requirepass", password]
    log = (tmp / "redis.log").open("wb")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"redis://{f':{password}@' if password else ''}127.0.0.1:{port}/0"
    try:
        import redis

        deadline = time.monotonic() + timeout
        while True:
            try:
                if redis.Redis.from_url(url, socket_timeout=1).ping():
                    break
            except redis.exceptions.ConnectionError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise CeleryUnavailable(
                    f"redis-server did not start: {(tmp / 'redis.log').read_text()[-2000:]}"
                )
            time.sleep(0.1)
        yield url
    finally:
        _stop(proc)
        log.close()
        shutil.rmtree(tmp, ignore_errors=True)


def dagster_pg_env(dsn: str) -> dict[str, str]:
    """DAGSTER_PG_* of dagster.yaml.example for the database ``dsn`` names."""
    params = conninfo_to_dict(dsn)
    return {
        "DAGSTER_PG_HOST": str(params.get("host", "127.0.0.1")),
        "DAGSTER_PG_PORT": str(params.get("port", "5432")),
        "DAGSTER_PG_DB": str(params["dbname"]),
        "DAGSTER_PG_USER": str(params.get("user", "postgres")),
        "DAGSTER_PG_PASSWORD": str(params.get("password", "")),
    }


def dagster_home_from_example(home: Path) -> Path:
    """A DAGSTER_HOME holding the project's dagster.yaml.example, as the README says to set up."""
    home.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "dagster.yaml.example", home / "dagster.yaml")
    return home


def base_env() -> dict[str, str]:
    """The process environment without any chitty-pipelines setting (the caller adds its own)."""
    from chitty_pipelines import config

    names = {spec.name for spec in config.ENV_VARS} - {"CHITTY_TEST_POSTGRES_DSN"}
    env = {k: v for k, v in os.environ.items() if k not in names and not k.startswith("DAGSTER_PG_")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


@dataclass
class Worker:
    name: str
    cwd: Path
    proc: subprocess.Popen[Any]
    log: Path

    def kill(self) -> None:
        """SIGKILL the worker and its pool processes at once (a machine that died)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def start_worker(name: str, env: dict[str, str], root: Path, timeout: float = 180.0) -> Worker:
    """``celery -A chitty_pipelines.ops.distributed worker`` in an empty folder of its own (its
    own CHITTY_HOME too): nothing but the installed code and ``env``. Returns once it is ready."""
    cwd = root / name
    cwd.mkdir(parents=True)
    log = cwd / "worker.log"
    cmd = [str(VENV_BIN / "celery"), "-A", "chitty_pipelines.ops.distributed", "worker"]
    cmd += ["-Q", "dagster", "-c", "1", "-n", f"{name}@%h", "--without-gossip", "--without-mingle"]
    cmd += ["--without-heartbeat", "-l", "INFO"]
    worker_env = {**env, "CHITTY_HOME": str(cwd / "chitty-home"), "DAGSTER_HOME": str(cwd / "dagster-home")}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            cmd, cwd=cwd, env=worker_env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    worker = Worker(name, cwd, proc, log)
    deadline = time.monotonic() + timeout
    while " ready." not in worker.text():
        if proc.poll() is not None or time.monotonic() > deadline:
            _stop(proc)
            raise RuntimeError(f"celery worker {name} did not become ready:\n{worker.text()[-4000:]}")
        time.sleep(0.2)
    return worker


@contextlib.contextmanager
def workers(count: int, env: dict[str, str], root: Path) -> Iterator[list[Worker]]:
    started: list[Worker] = []
    try:
        for n in range(count):
            started.append(start_worker(f"worker{n + 1}", env, root))
        yield started
    finally:
        for worker in started:
            _stop(worker.proc)


def syncall(env: dict[str, str], cwd: Path, timeout: float = 600.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, "syncall"], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout
    )


def start_syncall(env: dict[str, str], cwd: Path, out: Path) -> subprocess.Popen[Any]:
    with out.open("wb") as handle:
        return subprocess.Popen(
            [*CLI, "syncall"],
            env=env,
            cwd=cwd,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


# Per-run bookkeeping, not data: when a row was written, built or observed differs between any two
# runs of the same input. ``chitty_id`` is minted by the (fake) ChittyID service, a new id for each
# warehouse that asks; within one warehouse it is stable (tests/unified cover that).
VOLATILE_COLUMNS = {
    "synced_at",
    "run_id",
    "built_at",
    "classified_at",
    "refreshed_at",
    "last_updated",
    "status_as_of",
    "changed_at",
    "first_seen_at",
    "chitty_id",
}
DATA_SCHEMAS = ("raw_", "unified")


def dump_warehouse(dsn: str, volatile: set[str] = VOLATILE_COLUMNS) -> dict[str, list[tuple[Any, ...]]]:
    """Every table of the raw_* and unified schemas: its column names, then its rows sorted, as
    text, without per-run bookkeeping columns."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    with psycopg.connect(dsn) as con:
        tables = con.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_type = 'BASE TABLE' AND (table_schema LIKE 'raw\\_%' OR table_schema = 'unified') "
            "ORDER BY 1, 2"
        ).fetchall()
        for schema, table in tables:
            cols = [
                c
                for (c,) in con.execute(
                    "SELECT column_name FROM information_schema.columns WHERE table_schema = %s "
                    "AND table_name = %s ORDER BY ordinal_position",
                    (schema, table),
                ).fetchall()
                if c not in volatile
            ]
            select = ", ".join(f'"{c}"::text' for c in cols)
            rows = con.execute(f'SELECT {select} FROM "{schema}"."{table}"').fetchall()
            rows = sorted(rows, key=lambda r: tuple("" if v is None else v for v in r))
            out[f"{schema}.{table}"] = [tuple(cols), *rows]  # the header first: diffs name columns
    return out


def differing_columns(got: list[tuple[Any, ...]], want: list[tuple[Any, ...]]) -> list[str]:
    """The columns whose sorted values differ between two dumps of one table (for messages)."""
    header = want[0]
    if got[0] != header:
        return [f"columns {got[0]} != {header}"]
    return [
        c
        for i, c in enumerate(header)
        if sorted(str(r[i]) for r in got[1:]) != sorted(str(r[i]) for r in want[1:])
    ]


@contextlib.contextmanager
def broker_that_only_pongs() -> Iterator[str]:
    """A Redis URL whose server answers the CLI's pre-run ``PING`` (and the client's handshake)
    but drops the connection on any other command: a broker that was up when the run began and
    is lost before the first step is sent. Speaks RESP over TCP, one thread per connection."""
    import threading

    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    port = listener.getsockname()[1]

    def serve(conn: socket.socket) -> None:
        with conn:
            buffer = b""
            while True:
                try:
                    data = conn.recv(65536)
                except OSError:
                    return
                if not data:
                    return
                buffer += data
                # Each request is an array of bulk strings: *N\r\n$len\r\nWORD\r\n...; only its
                # command word matters here.
                while buffer.startswith(b"*") and buffer.count(b"\r\n") >= 3:
                    parts = buffer.split(b"\r\n")
                    count = int(parts[0][1:])
                    if len(parts) < 1 + 2 * count:
                        break
                    word = parts[2].upper()
                    buffer = b"\r\n".join(parts[1 + 2 * count :])
                    if word == b"PING":
                        conn.sendall(b"+PONG\r\n")
                    elif word == b"HELLO":  # RESP3, as Redis 6+ answers it
                        conn.sendall(b"%3\r\n+server\r\n+redis\r\n+version\r\n+7.0.15\r\n+proto\r\n:3\r\n")
                    elif word in (b"CLIENT", b"AUTH", b"SELECT"):
                        conn.sendall(b"+OK\r\n")
                    else:
                        return  # the broker is gone

    def accept() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        listener.close()
