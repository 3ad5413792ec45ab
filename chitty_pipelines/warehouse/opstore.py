"""The operational store: projects and sessions registered by ``chitty-sync projectsync`` and
``sessionsync``, in SQLite (WAL mode) under ``$CHITTY_HOME``.

Why SQLite and not the DuckDB warehouse: registrations arrive from many short-lived processes
(one per AI tool, heartbeats every few minutes) while a sync may hold the warehouse for minutes.
SQLite in WAL mode lets readers and one writer at a time proceed with a busy timeout, and every
write here is one tiny ``BEGIN IMMEDIATE`` transaction, so many writers simply queue.

The unified sessions asset reads this store as a source; nothing here talks to a platform.
Fixes of the original (contracts §1.4): a heartbeat really writes ``last_heartbeat_at``, a session
is ended by its primary key (never a ``sessions:default`` list), and results say what happened.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS projects (
    project_key   TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    path          TEXT,
    git_remote    TEXT,
    registered_at TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
    session_id        TEXT PRIMARY KEY,
    project_key       TEXT,
    ai_platform       TEXT NOT NULL,
    machine_id        TEXT,
    started_at        TEXT NOT NULL,
    last_heartbeat_at TEXT NOT NULL,
    ended_at          TEXT,
    heartbeats        INTEGER NOT NULL DEFAULT 0,
    metadata          TEXT NOT NULL DEFAULT '{}'
);
-- The API lists sessions newest heartbeat first, per project, and counts the recent ones.
CREATE INDEX IF NOT EXISTS sessions_by_heartbeat ON sessions (last_heartbeat_at, session_id);
CREATE INDEX IF NOT EXISTS sessions_by_project ON sessions (project_key, last_heartbeat_at, session_id);
-- One counter bumped by every write transaction: the sensor that refreshes the unified tables
-- after API or CLI writes compares it with its cursor (ops/defs.py hub_writes_sensor).
CREATE TABLE IF NOT EXISTS hub_meta (
    key   TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
INSERT OR IGNORE INTO hub_meta VALUES ('writes', 0);
"""

# Columns added after the first release: added in place when an older store is opened.
_ADDED_COLUMNS: dict[str, tuple[tuple[str, str], ...]] = {
    "sessions": (("chitty_id", "TEXT"), ("id_source", "TEXT")),
}


def _iso(ts: datetime | None) -> str:
    return (ts or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="microseconds")


def parse_ts(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


@dataclass(frozen=True)
class Outcome:
    """What a registration call did; ``ok`` and ``created`` drive the CLI's exit code and words."""

    ok: bool
    created: bool = False
    message: str = ""
    record: dict[str, Any] | None = None


class OpStore:
    def __init__(self, path: Path | str, busy_timeout_s: float = 30.0, keep_open: bool = False):
        self.path = Path(path)
        self.busy_timeout_s = busy_timeout_s
        self._ready = False
        # keep_open: one connection per thread, kept (a long-running server: opening a SQLite
        # connection costs more than most of its queries); otherwise one per call (the CLI).
        self.keep_open = keep_open
        self._local = threading.local()

    def _open(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: transactions are explicit (BEGIN IMMEDIATE takes the write lock up
        # front, so two writers never deadlock upgrading read locks). check_same_thread stays on:
        # a kept connection belongs to its thread.
        con = sqlite3.connect(self.path, timeout=self.busy_timeout_s, isolation_level=None)
        con.row_factory = sqlite3.Row
        try:
            con.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_s * 1000)}")
            if not self._ready:
                con.execute("PRAGMA journal_mode = WAL")
                con.executescript(self.schema_sql())
                _add_columns(con)
                self._ready = True
            con.execute("PRAGMA synchronous = NORMAL")
        except BaseException:
            con.close()
            raise
        return con

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        if not self.keep_open:
            con = self._open()
            try:
                yield con
            finally:
                con.close()
            return
        con = getattr(self._local, "con", None)
        if con is None:
            con = self._local.con = self._open()
        yield con

    @contextmanager
    def _write(self, counted: bool = True) -> Iterator[sqlite3.Connection]:
        """One ``BEGIN IMMEDIATE`` transaction; ``counted``: a change bumps the write counter
        (what the unified tables read; API tokens, for one, are not)."""
        with self._connect() as con:
            con.execute("BEGIN IMMEDIATE")
            before = con.total_changes
            try:
                yield con
            except BaseException:
                con.execute("ROLLBACK")
                raise
            if counted and con.total_changes != before:  # a repeat that changed nothing wakes no sensor
                con.execute("UPDATE hub_meta SET value = value + 1 WHERE key = 'writes'")
            con.execute("COMMIT")

    def schema_sql(self) -> str:
        """The tables this store keeps (a subclass adds its own after these)."""
        return SCHEMA_SQL

    def write_stamp(self) -> int:
        """How many write transactions this store has committed: changes whenever anything did."""
        with self._connect() as con:
            row = con.execute("SELECT value FROM hub_meta WHERE key = 'writes'").fetchone()
        return int(row[0]) if row else 0

    def journal_mode(self) -> str:
        with self._connect() as con:
            return str(con.execute("PRAGMA journal_mode").fetchone()[0])

    # --- projects ---------------------------------------------------------------------------
    def register_project(
        self,
        project_key: str,
        name: str,
        path: str | None = None,
        git_remote: str | None = None,
        now: datetime | None = None,
    ) -> Outcome:
        ts = _iso(now)
        with self._write() as con:
            old = con.execute("SELECT * FROM projects WHERE project_key = ?", [project_key]).fetchone()
            if old is None:
                con.execute(
                    "INSERT INTO projects VALUES (?, ?, ?, ?, ?, ?)",
                    [project_key, name, path, git_remote, ts, ts],
                )
            else:
                con.execute(
                    "UPDATE projects SET name = ?, path = coalesce(?, path), "
                    "git_remote = coalesce(?, git_remote), updated_at = ? WHERE project_key = ?",
                    [name, path, git_remote, ts, project_key],
                )
            row = con.execute("SELECT * FROM projects WHERE project_key = ?", [project_key]).fetchone()
        created = old is None
        return Outcome(True, created, "registered" if created else "updated", dict(row))

    def projects(self) -> list[dict[str, Any]]:
        with self._connect() as con:
            return [dict(r) for r in con.execute("SELECT * FROM projects ORDER BY project_key")]

    # --- sessions ---------------------------------------------------------------------------
    def register_session(
        self,
        session_id: str,
        ai_platform: str,
        project_key: str | None = None,
        machine_id: str | None = None,
        metadata: dict[str, Any] | None = None,
        now: datetime | None = None,
        chitty_id: str | None = None,
        id_source: str | None = None,
    ) -> Outcome:
        ts = _iso(now)
        with self._write() as con:
            old = con.execute("SELECT * FROM sessions WHERE session_id = ?", [session_id]).fetchone()
            if old is not None:
                # An idempotent repeat: the session exists; report it, change nothing.
                return Outcome(True, False, "already registered", dict(old))
            con.execute(
                "INSERT INTO sessions (session_id, project_key, ai_platform, machine_id, started_at, "
                "last_heartbeat_at, metadata, chitty_id, id_source) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    session_id,
                    project_key,
                    ai_platform,
                    machine_id,
                    ts,
                    ts,
                    json.dumps(metadata or {}),
                    chitty_id,
                    id_source,
                ],
            )
            row = con.execute("SELECT * FROM sessions WHERE session_id = ?", [session_id]).fetchone()
        return Outcome(True, True, "registered", dict(row))

    def heartbeat(
        self, session_id: str, metadata: dict[str, Any] | None = None, now: datetime | None = None
    ) -> Outcome:
        ts = _iso(now)
        with self._write() as con:
            row = con.execute("SELECT * FROM sessions WHERE session_id = ?", [session_id]).fetchone()
            if row is None:
                return Outcome(False, message=f"no session {session_id!r}")
            if row["ended_at"]:
                return Outcome(
                    False, message=f"session {session_id!r} ended at {row['ended_at']}", record=dict(row)
                )
            merged = {**json.loads(row["metadata"] or "{}"), **(metadata or {})}
            con.execute(
                "UPDATE sessions SET last_heartbeat_at = ?, heartbeats = heartbeats + 1, metadata = ? "
                "WHERE session_id = ?",
                [ts, json.dumps(merged), session_id],
            )
            row = con.execute("SELECT * FROM sessions WHERE session_id = ?", [session_id]).fetchone()
        return Outcome(True, False, "heartbeat recorded", dict(row))

    def end_session(self, session_id: str, now: datetime | None = None) -> Outcome:
        ts = _iso(now)
        with self._write() as con:
            row = con.execute("SELECT * FROM sessions WHERE session_id = ?", [session_id]).fetchone()
            if row is None:
                return Outcome(False, message=f"no session {session_id!r}")
            if row["ended_at"]:
                return Outcome(True, False, f"already ended at {row['ended_at']}", dict(row))
            con.execute(
                "UPDATE sessions SET ended_at = ?, last_heartbeat_at = ? WHERE session_id = ?",
                [ts, ts, session_id],
            )
            row = con.execute("SELECT * FROM sessions WHERE session_id = ?", [session_id]).fetchone()
        return Outcome(True, False, "ended", dict(row))

    def session(self, session_id: str) -> dict[str, Any] | None:
        with self._connect() as con:
            row = con.execute("SELECT * FROM sessions WHERE session_id = ?", [session_id]).fetchone()
        return dict(row) if row else None

    def sessions(self) -> list[dict[str, Any]]:
        with self._connect() as con:
            return [dict(r) for r in con.execute("SELECT * FROM sessions ORDER BY started_at, session_id")]


def _add_columns(con: sqlite3.Connection) -> None:
    for table, columns in _ADDED_COLUMNS.items():
        have = {r[1] for r in con.execute(f"PRAGMA table_info({table})")}
        for name, sql_type in columns:
            if name not in have:
                try:
                    con.execute(f"ALTER TABLE {table} ADD COLUMN {name} {sql_type}")
                except sqlite3.OperationalError as exc:  # another process added it meanwhile
                    if "duplicate column" not in str(exc):
                        raise
