"""A real, throwaway PostgreSQL on any machine of ours (stack-notes §4), for tests, benchmarks and
``chitty-sync demo`` (which plays Neon with it).

Order: ``CHITTY_TEST_POSTGRES_DSN`` when set; else a private throwaway cluster from the
PostgreSQL binaries on disk (run as the ``postgres`` user via ``runuser`` when we are root,
because ``initdb`` refuses root); else the ``pgserver`` wheel, which bundles its own binaries.

Usage::

    with postgres_server() as dsn:          # a superuser DSN on the maintenance database
        with fresh_database(dsn) as db_dsn:  # a private database, dropped afterwards
            ...
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from chitty_pipelines import config

ENV_DSN = "CHITTY_TEST_POSTGRES_DSN"


class PostgresUnavailable(RuntimeError):
    """No server to use or start here (the message says what would provide one)."""


def _bin_dir() -> Path | None:
    found = shutil.which("pg_ctl")
    if found:
        return Path(os.path.realpath(found)).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name))
    return Path(candidates[-1]) if candidates else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _runuser() -> str | None:
    # A root shell without the sbin folders on PATH (`env -i`, cron, some containers) still has
    # runuser: look where util-linux installs it.
    return shutil.which("runuser") or shutil.which("runuser", path="/usr/sbin:/sbin")


def _as_postgres(cmd: list[str]) -> list[str]:
    # initdb/postgres refuse to run as root; the image has a postgres system user for this.
    if os.geteuid() == 0:
        return [_runuser() or "runuser", "-u", "postgres", "--", *cmd]
    return cmd


class _PrivateCluster:
    """initdb + pg_ctl start in a mktemp dir; ``stop()`` is idempotent and registered atexit."""

    def __init__(self, bin_dir: Path):
        self.bin_dir = bin_dir
        self.tmp = Path(tempfile.mkdtemp(prefix="chitty-pg-"))
        self.data = self.tmp / "data"
        self.port = _free_port()
        self.running = False
        if os.geteuid() == 0:
            shutil.chown(self.tmp, user="postgres")

    def _run(self, *args: str) -> None:
        # cwd="/" because postgres cannot enter /root (harmless warning otherwise).
        subprocess.run(
            _as_postgres([str(self.bin_dir / args[0]), *args[1:]]),
            cwd="/",
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            timeout=60,
        )

    def start(self) -> str:
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8")
        opts = f"-p {self.port} -k {self.tmp} -c fsync=off -c listen_addresses=127.0.0.1"
        self._run("pg_ctl", "-D", str(self.data), "-o", opts, "-l", str(self.tmp / "log"), "-w", "start")
        self.running = True
        atexit.register(self.stop)
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def stop(self) -> None:
        if self.running:
            self.running = False
            with contextlib.suppress(Exception):
                self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")
        shutil.rmtree(self.tmp, ignore_errors=True)


def _can_run_binaries() -> bool:
    if os.geteuid() != 0:
        return True
    try:
        import pwd

        pwd.getpwnam("postgres")
    except KeyError:
        return False
    return _runuser() is not None


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """Yield a superuser DSN; a cluster started here is stopped on exit (and atexit)."""
    preset = config.env(ENV_DSN)
    if preset:
        yield preset
        return
    bin_dir = _bin_dir()
    if bin_dir is not None and _can_run_binaries():
        cluster = _PrivateCluster(bin_dir)
        try:
            yield cluster.start()
        finally:
            cluster.stop()
        return
    try:
        import pgserver  # type: ignore[import-not-found]
    except ImportError as exc:  # pragma: no cover - depends on the machine
        raise PostgresUnavailable(
            f"no PostgreSQL: set {ENV_DSN}, install PostgreSQL binaries, or `pip install pgserver`"
        ) from exc
    tmp = tempfile.mkdtemp(prefix="chitty-pgserver-")
    server = pgserver.get_server(tmp, cleanup_mode="stop")
    try:
        yield server.get_uri()
    finally:
        with contextlib.suppress(Exception):
            server.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)


def with_database(dsn: str, dbname: str, **overrides: str) -> str:
    params = conninfo_to_dict(dsn)
    params["dbname"] = dbname
    params.update(overrides)
    return make_conninfo(**params)


@contextlib.contextmanager
def fresh_database(dsn: str, prefix: str = "t") -> Iterator[str]:
    """CREATE DATABASE for one test (or module), DROP it afterwards: tests never see each other."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(dsn, autocommit=True) as con:
        con.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield with_database(dsn, name)
    finally:
        with psycopg.connect(dsn, autocommit=True) as con:
            con.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
