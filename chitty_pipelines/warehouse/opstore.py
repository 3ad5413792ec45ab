"""The operational store: projects and sessions registered by ``chitty-sync projectsync`` and
``sessionsync``, in SQLite (WAL mode) under ``$CHITTY_HOME``, or in the PostgreSQL warehouse's
``ops`` schema when ``CHITTY_WAREHOUSE_URL`` is set (``url=``).

Why SQLite and not the DuckDB warehouse: registrations arrive from many short-lived processes
(one per AI tool, heartbeats every few minutes) while a sync may hold the warehouse for minutes.
SQLite in WAL mode lets readers and one writer at a time proceed with a busy timeout, and every
write here is one tiny ``BEGIN IMMEDIATE`` transaction, so many writers simply queue. PostgreSQL
gives the same with MVCC readers and writers queued on one transaction-scoped advisory lock.

Both backends run the same statements (warehouse/opstore_db.py adapts placeholders and table
names), so they answer alike by construction, not by a second copy of every method.

The unified sessions asset reads this store as a source; nothing here talks to a platform.
Fixes of the original (contracts §1.4): a heartbeat really writes ``last_heartbeat_at``, a session
is ended by its primary key (never a ``sessions:default`` list), and results say what happened.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from chitty_pipelines.warehouse.opstore_db import Con, Db, PgDb, SqliteDb

SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS projects (
    project_key   TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    path          TEXT,
    git_remote    TEXT,
    registered_at TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    removed_at    TEXT
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
    """Statements are written once, for both backends: ``?`` placeholders and ``{table}`` names
    (``{projects}`` is ``projects`` in SQLite, ``ops.registered_projects`` in PostgreSQL)."""

    def __init__(
        self,
        path: Path | str | None = None,
        busy_timeout_s: float = 30.0,
        keep_open: bool = False,
        *,
        url: str | None = None,
    ):
        # keep_open: one connection per thread, kept (a long-running server: opening a connection
        # costs more than most of its queries); otherwise one per call (the CLI, a step).
        if url:
            self._db: Db = PgDb(url, keep_open)
        elif path is not None:
            self._db = SqliteDb(Path(path), busy_timeout_s, keep_open, self.schema_sql())
        else:
            raise ValueError("an op store needs a SQLite path or a PostgreSQL url")
        self.path: Path | str = self._db.where
        self.busy_timeout_s = busy_timeout_s
        self.keep_open = keep_open

    @property
    def backend(self) -> str:
        """``sqlite`` or ``postgres``."""
        return self._db.kind

    @contextmanager
    def _connect(self) -> Iterator[Con]:
        with self._db.connect() as con:
            yield con

    @contextmanager
    def _write(self, counted: bool = True) -> Iterator[Con]:
        """One write transaction, serialized with every other writer of the store; ``counted``:
        a change bumps the write counter (what the unified tables read; API tokens, for one, are
        not)."""
        with self._db.write() as con:
            yield con
            if counted and con.changes:  # a repeat that changed nothing wakes no sensor
                con.execute("UPDATE {hub_meta} SET value = value + 1 WHERE key = 'writes'")

    def schema_sql(self) -> str:
        """The SQLite tables this store keeps (a subclass adds its own after these); PostgreSQL's
        are warehouse migrations (warehouse/migrations.py)."""
        return SCHEMA_SQL

    def write_stamp(self) -> int:
        """How many write transactions this store has committed: changes whenever anything did."""
        with self._connect() as con:
            row = con.execute("SELECT value FROM {hub_meta} WHERE key = 'writes'").fetchone()
        return int(row["value"]) if row else 0

    def journal_mode(self) -> str:
        return self._db.journal_mode()

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
            old = con.execute("SELECT * FROM {projects} WHERE project_key = ?", [project_key]).fetchone()
            if old is None:
                con.execute(
                    "INSERT INTO {projects} (project_key, name, path, git_remote, registered_at, updated_at) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    [project_key, name, path, git_remote, ts, ts],
                )
            else:  # re-adding a removed project restores it
                con.execute(
                    "UPDATE {projects} SET name = ?, path = coalesce(?, path), "
                    "git_remote = coalesce(?, git_remote), updated_at = ?, removed_at = NULL "
                    "WHERE project_key = ?",
                    [name, path, git_remote, ts, project_key],
                )
            row = con.execute("SELECT * FROM {projects} WHERE project_key = ?", [project_key]).fetchone()
        created = old is None
        message = "registered" if created else "restored" if old["removed_at"] else "updated"
        return Outcome(True, created, message, dict(row))

    def remove_project(self, project_key: str, now: datetime | None = None) -> Outcome:
        """Soft delete (contracts §1.4 row 8): the row stays with ``removed_at``; lists and the
        unified tables leave it out until it is registered again."""
        with self._write() as con:
            old = con.execute("SELECT * FROM {projects} WHERE project_key = ?", [project_key]).fetchone()
            if old is None:
                return Outcome(False, message=f"no registered project {project_key!r}")
            if old["removed_at"]:
                return Outcome(True, message=f"already removed at {old['removed_at']}", record=dict(old))
            con.execute(
                "UPDATE {projects} SET removed_at = ?, updated_at = ? WHERE project_key = ?",
                [_iso(now), _iso(now), project_key],
            )
            row = con.execute("SELECT * FROM {projects} WHERE project_key = ?", [project_key]).fetchone()
        return Outcome(True, message="removed", record=dict(row))

    def projects(self, include_removed: bool = False) -> list[dict[str, Any]]:
        """Registered projects; removed ones only with ``include_removed``."""
        where = "" if include_removed else "WHERE removed_at IS NULL "
        with self._connect() as con:
            return [
                dict(r) for r in con.execute("SELECT * FROM {projects} " + where + "ORDER BY project_key")
            ]

    def removed_projects(self) -> list[dict[str, Any]]:
        with self._connect() as con:
            sql = "SELECT * FROM {projects} WHERE removed_at IS NOT NULL ORDER BY project_key"
            return [dict(r) for r in con.execute(sql)]

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
            old = con.execute("SELECT * FROM {sessions} WHERE session_id = ?", [session_id]).fetchone()
            if old is not None:
                # An idempotent repeat: the session exists; report it, change nothing.
                return Outcome(True, False, "already registered", dict(old))
            con.execute(
                "INSERT INTO {sessions} (session_id, project_key, ai_platform, machine_id, started_at, "
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
            row = con.execute("SELECT * FROM {sessions} WHERE session_id = ?", [session_id]).fetchone()
        return Outcome(True, True, "registered", dict(row))

    def heartbeat(
        self,
        session_id: str,
        metadata: dict[str, Any] | None = None,
        now: datetime | None = None,
        reopen: bool = False,
    ) -> Outcome:
        """Record a heartbeat. An ended session refuses it, unless ``reopen``: a session resumed
        after its end (Claude Code's SessionStart ``resume``) is active again, same id."""
        ts = _iso(now)
        with self._write() as con:
            row = con.execute("SELECT * FROM {sessions} WHERE session_id = ?", [session_id]).fetchone()
            if row is None:
                return Outcome(False, message=f"no session {session_id!r}")
            reopened = bool(row["ended_at"]) and reopen
            if row["ended_at"] and not reopen:
                return Outcome(
                    False, message=f"session {session_id!r} ended at {row['ended_at']}", record=dict(row)
                )
            merged = {**json.loads(row["metadata"] or "{}"), **(metadata or {})}
            con.execute(
                "UPDATE {sessions} SET last_heartbeat_at = ?, heartbeats = heartbeats + 1, metadata = ?, "
                "ended_at = NULL WHERE session_id = ?",
                [ts, json.dumps(merged), session_id],
            )
            row = con.execute("SELECT * FROM {sessions} WHERE session_id = ?", [session_id]).fetchone()
        return Outcome(True, False, "reopened" if reopened else "heartbeat recorded", dict(row))

    def end_session(self, session_id: str, now: datetime | None = None) -> Outcome:
        ts = _iso(now)
        with self._write() as con:
            row = con.execute("SELECT * FROM {sessions} WHERE session_id = ?", [session_id]).fetchone()
            if row is None:
                return Outcome(False, message=f"no session {session_id!r}")
            if row["ended_at"]:
                return Outcome(True, False, f"already ended at {row['ended_at']}", dict(row))
            con.execute(
                "UPDATE {sessions} SET ended_at = ?, last_heartbeat_at = ? WHERE session_id = ?",
                [ts, ts, session_id],
            )
            row = con.execute("SELECT * FROM {sessions} WHERE session_id = ?", [session_id]).fetchone()
        return Outcome(True, False, "ended", dict(row))

    def session(self, session_id: str) -> dict[str, Any] | None:
        with self._connect() as con:
            row = con.execute("SELECT * FROM {sessions} WHERE session_id = ?", [session_id]).fetchone()
        return dict(row) if row else None

    def sessions(self) -> list[dict[str, Any]]:
        with self._connect() as con:
            return [dict(r) for r in con.execute("SELECT * FROM {sessions} ORDER BY started_at, session_id")]
