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
"""


def _add_removed_at(con: sqlite3.Connection) -> None:
    """Stores made before soft delete (issue 15) get the column; idempotent."""
    columns = {r[1] for r in con.execute("PRAGMA table_info(projects)")}
    if "removed_at" not in columns:
        con.execute("ALTER TABLE projects ADD COLUMN removed_at TEXT")


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
    def __init__(self, path: Path | str, busy_timeout_s: float = 30.0):
        self.path = Path(path)
        self.busy_timeout_s = busy_timeout_s
        self._ready = False

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: transactions are explicit (BEGIN IMMEDIATE takes the write lock up
        # front, so two writers never deadlock upgrading read locks).
        con = sqlite3.connect(self.path, timeout=self.busy_timeout_s, isolation_level=None)
        con.row_factory = sqlite3.Row
        try:
            con.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_s * 1000)}")
            if not self._ready:
                con.execute("PRAGMA journal_mode = WAL")
                con.executescript(SCHEMA_SQL)
                _add_removed_at(con)
                self._ready = True
            con.execute("PRAGMA synchronous = NORMAL")
            yield con
        finally:
            con.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._connect() as con:
            con.execute("BEGIN IMMEDIATE")
            try:
                yield con
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")

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
                    "INSERT INTO projects (project_key, name, path, git_remote, registered_at, updated_at) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    [project_key, name, path, git_remote, ts, ts],
                )
            else:  # re-adding a removed project restores it
                con.execute(
                    "UPDATE projects SET name = ?, path = coalesce(?, path), "
                    "git_remote = coalesce(?, git_remote), updated_at = ?, removed_at = NULL "
                    "WHERE project_key = ?",
                    [name, path, git_remote, ts, project_key],
                )
            row = con.execute("SELECT * FROM projects WHERE project_key = ?", [project_key]).fetchone()
        created = old is None
        message = "registered" if created else "restored" if old["removed_at"] else "updated"
        return Outcome(True, created, message, dict(row))

    def remove_project(self, project_key: str, now: datetime | None = None) -> Outcome:
        """Soft delete (contracts §1.4 row 8): the row stays with ``removed_at``; lists and the
        unified tables leave it out until it is registered again."""
        with self._write() as con:
            old = con.execute("SELECT * FROM projects WHERE project_key = ?", [project_key]).fetchone()
            if old is None:
                return Outcome(False, message=f"no registered project {project_key!r}")
            if old["removed_at"]:
                return Outcome(True, message=f"already removed at {old['removed_at']}", record=dict(old))
            con.execute(
                "UPDATE projects SET removed_at = ?, updated_at = ? WHERE project_key = ?",
                [_iso(now), _iso(now), project_key],
            )
            row = con.execute("SELECT * FROM projects WHERE project_key = ?", [project_key]).fetchone()
        return Outcome(True, message="removed", record=dict(row))

    def projects(self, include_removed: bool = False) -> list[dict[str, Any]]:
        """Registered projects; removed ones only with ``include_removed``."""
        where = "" if include_removed else "WHERE removed_at IS NULL "
        with self._connect() as con:
            return [dict(r) for r in con.execute(f"SELECT * FROM projects {where}ORDER BY project_key")]

    def removed_projects(self) -> list[dict[str, Any]]:
        with self._connect() as con:
            sql = "SELECT * FROM projects WHERE removed_at IS NOT NULL ORDER BY project_key"
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
    ) -> Outcome:
        ts = _iso(now)
        with self._write() as con:
            old = con.execute("SELECT * FROM sessions WHERE session_id = ?", [session_id]).fetchone()
            if old is not None:
                # An idempotent repeat: the session exists; report it, change nothing.
                return Outcome(True, False, "already registered", dict(old))
            con.execute(
                "INSERT INTO sessions (session_id, project_key, ai_platform, machine_id, started_at, "
                "last_heartbeat_at, metadata) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [session_id, project_key, ai_platform, machine_id, ts, ts, json.dumps(metadata or {})],
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
