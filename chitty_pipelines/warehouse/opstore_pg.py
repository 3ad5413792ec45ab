"""The op store in the PostgreSQL warehouse's ``ops`` schema (``CHITTY_WAREHOUSE_URL`` set), so a
worker on another machine needs nothing on local disk. Same API and same values as the SQLite
``OpStore`` (timestamps stored as ISO text, metadata as JSON text), so callers cannot tell them
apart. Each call is one short transaction; concurrent writers serialize on the row
(``SELECT ... FOR UPDATE``) or on the key (``INSERT ... ON CONFLICT``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from chitty_pipelines.warehouse.opstore import Outcome, _iso

PROJECTS = "ops.registered_projects"
SESSIONS = "ops.registered_sessions"
PACING = "ops.api_pacing"

# Applied by warehouse/migrations.py (version 2); plain PostgreSQL, run as written.
SCHEMA_SQL: tuple[str, ...] = (
    f"""CREATE TABLE IF NOT EXISTS {PROJECTS} (
        project_key   TEXT PRIMARY KEY,
        name          TEXT NOT NULL,
        path          TEXT,
        git_remote    TEXT,
        registered_at TEXT NOT NULL,
        updated_at    TEXT NOT NULL,
        removed_at    TEXT)""",
    f"""CREATE TABLE IF NOT EXISTS {SESSIONS} (
        session_id        TEXT PRIMARY KEY,
        project_key       TEXT,
        ai_platform       TEXT NOT NULL,
        machine_id        TEXT,
        started_at        TEXT NOT NULL,
        last_heartbeat_at TEXT NOT NULL,
        ended_at          TEXT,
        heartbeats        INTEGER NOT NULL DEFAULT 0,
        metadata          TEXT NOT NULL DEFAULT '{{}}')""",
    # client-side pacing shared by every worker: the next free slot (epoch seconds) per key
    f"CREATE TABLE IF NOT EXISTS {PACING} (pacing_key TEXT PRIMARY KEY, next_slot DOUBLE PRECISION NOT NULL)",
)


class PgOpStore:
    """``OpStore`` on PostgreSQL (see module docstring)."""

    def __init__(self, url: str):
        from chitty_pipelines.warehouse.store import Warehouse

        self.url = url
        self._warehouse = Warehouse("unused", url=url)

    @property
    def path(self) -> str:  # what `status` prints where the SQLite store shows its file
        return f"{self._warehouse.location} (ops schema)"

    @contextmanager
    def _cursor(self) -> Iterator[Any]:
        from psycopg.rows import dict_row

        with self._warehouse.connect() as con, con.raw.cursor(row_factory=dict_row) as cur:
            yield cur

    def journal_mode(self) -> str:
        return "postgresql"

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
        with self._cursor() as cur:
            cur.execute(
                f"INSERT INTO {PROJECTS} (project_key, name, path, git_remote, registered_at, updated_at) "
                "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (project_key) DO NOTHING",
                [project_key, name, path, git_remote, ts, ts],
            )
            created = cur.rowcount == 1
            restored = False
            if not created:
                old = cur.execute(
                    f"SELECT removed_at FROM {PROJECTS} WHERE project_key = %s FOR UPDATE", [project_key]
                ).fetchone()
                restored = bool(old and old["removed_at"])
                cur.execute(  # re-adding a removed project restores it
                    f"UPDATE {PROJECTS} SET name = %s, path = coalesce(%s, path), "
                    "git_remote = coalesce(%s, git_remote), updated_at = %s, removed_at = NULL "
                    "WHERE project_key = %s",
                    [name, path, git_remote, ts, project_key],
                )
            row = cur.execute(f"SELECT * FROM {PROJECTS} WHERE project_key = %s", [project_key]).fetchone()
        message = "registered" if created else "restored" if restored else "updated"
        return Outcome(True, created, message, dict(row))

    def remove_project(self, project_key: str, now: datetime | None = None) -> Outcome:
        """Soft delete, as the SQLite store: the row stays with ``removed_at``."""
        with self._cursor() as cur:
            old = cur.execute(
                f"SELECT * FROM {PROJECTS} WHERE project_key = %s FOR UPDATE", [project_key]
            ).fetchone()
            if old is None:
                return Outcome(False, message=f"no registered project {project_key!r}")
            if old["removed_at"]:
                return Outcome(True, message=f"already removed at {old['removed_at']}", record=dict(old))
            row = cur.execute(
                f"UPDATE {PROJECTS} SET removed_at = %s, updated_at = %s WHERE project_key = %s RETURNING *",
                [_iso(now), _iso(now), project_key],
            ).fetchone()
        return Outcome(True, message="removed", record=dict(row))

    def projects(self, include_removed: bool = False) -> list[dict[str, Any]]:
        """Registered projects; removed ones only with ``include_removed``."""
        where = "" if include_removed else "WHERE removed_at IS NULL "
        with self._cursor() as cur:
            return list(cur.execute(f"SELECT * FROM {PROJECTS} {where}ORDER BY project_key").fetchall())

    def removed_projects(self) -> list[dict[str, Any]]:
        with self._cursor() as cur:
            sql = f"SELECT * FROM {PROJECTS} WHERE removed_at IS NOT NULL ORDER BY project_key"
            return list(cur.execute(sql).fetchall())

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
        with self._cursor() as cur:
            cur.execute(
                f"INSERT INTO {SESSIONS} (session_id, project_key, ai_platform, machine_id, started_at, "
                "last_heartbeat_at, metadata, chitty_id, id_source) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (session_id) DO NOTHING",
                [
                    session_id, project_key, ai_platform, machine_id, ts, ts,
                    json.dumps(metadata or {}), chitty_id, id_source,
                ],
            )  # fmt: skip
            created = cur.rowcount == 1
            row = cur.execute(f"SELECT * FROM {SESSIONS} WHERE session_id = %s", [session_id]).fetchone()
        if not created:
            # An idempotent repeat: the session exists; report it, change nothing.
            return Outcome(True, False, "already registered", dict(row))
        return Outcome(True, True, "registered", dict(row))

    def heartbeat(
        self, session_id: str, metadata: dict[str, Any] | None = None, now: datetime | None = None
    ) -> Outcome:
        ts = _iso(now)
        with self._cursor() as cur:
            row = cur.execute(
                f"SELECT * FROM {SESSIONS} WHERE session_id = %s FOR UPDATE", [session_id]
            ).fetchone()
            if row is None:
                return Outcome(False, message=f"no session {session_id!r}")
            if row["ended_at"]:
                return Outcome(
                    False, message=f"session {session_id!r} ended at {row['ended_at']}", record=dict(row)
                )
            merged = {**json.loads(row["metadata"] or "{}"), **(metadata or {})}
            row = cur.execute(
                f"UPDATE {SESSIONS} SET last_heartbeat_at = %s, heartbeats = heartbeats + 1, metadata = %s "
                "WHERE session_id = %s RETURNING *",
                [ts, json.dumps(merged), session_id],
            ).fetchone()
        return Outcome(True, False, "heartbeat recorded", dict(row))

    def end_session(self, session_id: str, now: datetime | None = None) -> Outcome:
        ts = _iso(now)
        with self._cursor() as cur:
            row = cur.execute(
                f"SELECT * FROM {SESSIONS} WHERE session_id = %s FOR UPDATE", [session_id]
            ).fetchone()
            if row is None:
                return Outcome(False, message=f"no session {session_id!r}")
            if row["ended_at"]:
                return Outcome(True, False, f"already ended at {row['ended_at']}", dict(row))
            row = cur.execute(
                f"UPDATE {SESSIONS} SET ended_at = %s, last_heartbeat_at = %s "
                "WHERE session_id = %s RETURNING *",
                [ts, ts, session_id],
            ).fetchone()
        return Outcome(True, False, "ended", dict(row))

    def session(self, session_id: str) -> dict[str, Any] | None:
        with self._cursor() as cur:
            row = cur.execute(f"SELECT * FROM {SESSIONS} WHERE session_id = %s", [session_id]).fetchone()
        return dict(row) if row else None

    def sessions(self) -> list[dict[str, Any]]:
        with self._cursor() as cur:
            return list(cur.execute(f"SELECT * FROM {SESSIONS} ORDER BY started_at, session_id").fetchall())


class PgPacer:
    """Spaces calls at least ``1/rate`` seconds apart across threads, processes and machines: the
    next free slot lives in ``ops.api_pacing``, taken under ``pg_advisory_xact_lock`` of the key
    (released with the transaction, so a dead worker never holds it)."""

    _MAX_AHEAD_S = 120.0  # a slot further ahead than this is stale (clock jump, crashed writer)

    def __init__(self, rate_per_s: float, url: str, key: str):
        self.interval = 1.0 / rate_per_s if rate_per_s > 0 else 0.0
        self.key = key
        self._warehouse = PgOpStore(url)._warehouse

    def wait(self) -> float:
        """Sleep until this caller's slot; returns the slot (epoch seconds, the database's clock)."""
        import time

        if not self.interval:
            return time.time()
        with self._warehouse.connect() as con:
            raw = con.raw
            raw.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [self.key])
            row = raw.execute(f"SELECT next_slot FROM {PACING} WHERE pacing_key = %s", [self.key]).fetchone()
            # the database's clock: workers on several machines share one time line
            now = float(raw.execute("SELECT extract(epoch FROM clock_timestamp())").fetchone()[0])
            slot = float(row[0]) if row else 0.0
            if slot - now > self._MAX_AHEAD_S:
                slot = 0.0
            start = max(now, slot)
            raw.execute(
                f"INSERT INTO {PACING} VALUES (%s, %s) "
                "ON CONFLICT (pacing_key) DO UPDATE SET next_slot = EXCLUDED.next_slot",
                [self.key, start + self.interval],
            )
        if start > now:
            time.sleep(start - now)
        return start
