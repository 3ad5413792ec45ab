"""Every read and write the API makes, in one place: the hub store (SQLite, WAL) for what the API
writes, the warehouse (DuckDB) for what syncs landed, the Dagster instance for runs. With
``CHITTY_WAREHOUSE_URL`` both the hub and the warehouse reads are the PostgreSQL warehouse (MVCC:
a read never waits for a sync there, so the snapshot below only ever answers for an outage).

The access pattern (issue 12, outcome 5):

* API writes go to the hub store only: a running syncall holds the DuckDB file, never this one,
  so a heartbeat never waits behind a sync. Each write is one short ``BEGIN IMMEDIATE``
  transaction; two writers of one session queue, neither update is lost.
* Warehouse reads open a short **read-only** DuckDB connection, retried with backoff for at most
  ``WAREHOUSE_WAIT_S``. The result is kept as a snapshot; while a sync holds the write lock the
  last snapshot answers, marked ``fresh: false`` with its age. Only a server that never once read
  the warehouse answers 503 (with Retry-After) for warehouse-only data.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from chitty_pipelines import config
from chitty_pipelines.api.errors import ApiError
from chitty_pipelines.warehouse import Warehouse
from chitty_pipelines.warehouse.hubstore import Hub

log = logging.getLogger("chitty_pipelines.api")

WAREHOUSE_WAIT_S = 0.75  # longest a request waits for the DuckDB lock before the snapshot answers
SNAPSHOT_MAX_AGE_S = 2.0  # a warehouse read younger than this is served without touching DuckDB
BACKOFF_S = 1.0  # after a refresh failed on the lock, the snapshot answers without trying for this long
CONFIGURED_MAX_AGE_S = 5.0  # how long /api/status trusts its reading of which platforms are set up
LABEL_WAIT_S = 5.0  # longest PUT /api/topic/<session> waits for a sync's lock before 503
SESSION_ARCHIVE_DAYS = 7  # section 7: sessions inactive for more than 7 days are archived


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    return str(value)


def session_ttl_s() -> float:
    return config.number("SESSION_TTL", 1800)


@dataclass
class Snapshot:
    value: Any
    at: float  # time.monotonic() when read
    at_wall: datetime


@dataclass
class WarehouseReads:
    """Read-only DuckDB reads with a per-query snapshot (see the module docstring)."""

    path: Path
    url: str | None = field(default=None, repr=False)  # the PostgreSQL warehouse (a secret)
    wait_s: float = WAREHOUSE_WAIT_S
    max_age_s: float = SNAPSHOT_MAX_AGE_S
    _cache: dict[str, Snapshot] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    # One read at a time per process: DuckDB shares one database instance per file in a process,
    # and opening it read-only while another thread holds it open is cheap; serialising keeps the
    # number of open handles (and the writer's wait) at one.
    _read_lock: threading.Lock = field(default_factory=threading.Lock)
    _refresh_locks: dict[str, threading.Lock] = field(default_factory=dict)
    _backoff: dict[str, tuple[float, str]] = field(default_factory=dict)  # name -> (until, reason)
    _pg: Any = field(default=None, repr=False)

    def read(self, name: str, fn: Callable[[Any], Any], default: Any = None) -> tuple[Any, dict[str, Any]]:
        """``fn(con)`` on a read-only connection, or the snapshot; ``(value, meta)``.

        At most one request per query refreshes a snapshot; the others answer from it at once
        (so requests never queue behind a held lock), and after a failed refresh nobody tries
        again for ``BACKOFF_S``."""
        now = time.monotonic()
        with self._lock:
            snap = self._cache.get(name)
            refresh = self._refresh_locks.setdefault(name, threading.Lock())
            backoff = self._backoff.get(name)
        if snap is not None and now - snap.at < self.max_age_s:
            return snap.value, self._meta(snap, fresh=True)
        if not self.exists():
            # "No warehouse yet" is a snapshot too: when the first syncall creates the file and
            # holds its lock, this empty answer serves (fresh: false) instead of a 503 (bench/api).
            with self._lock:
                self._cache[name] = Snapshot(default, now, utcnow())
            return default, {"reachable": True, "fresh": True, "as_of": iso(utcnow()), "exists": False}
        if snap is not None and backoff is not None and now < backoff[0]:
            return snap.value, {**self._meta(snap, fresh=False), "reason": backoff[1]}
        if not refresh.acquire(blocking=snap is None):  # another request is refreshing it
            return snap.value, {**self._meta(snap, fresh=False), "reason": "refreshing"}  # type: ignore[union-attr]
        try:
            return self._refresh(name, fn, snap)
        finally:
            refresh.release()

    def _refresh(
        self, name: str, fn: Callable[[Any], Any], snap: Snapshot | None
    ) -> tuple[Any, dict[str, Any]]:
        with self._lock:  # a request that waited for the refresh lock takes what was just read
            latest = self._cache.get(name)
        if latest is not None and latest is not snap and time.monotonic() - latest.at < self.max_age_s:
            return latest.value, self._meta(latest, fresh=True)
        error = ""
        deadline = time.monotonic() + self.wait_s
        delay = 0.02
        while True:
            try:
                value = self._read_once(fn)
            except Exception as exc:  # a held lock, or a table being rebuilt
                error = _describe(exc)
                if time.monotonic() + delay > deadline:
                    break
                time.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, 0.25)
                continue
            fresh = Snapshot(value, time.monotonic(), utcnow())
            with self._lock:
                self._cache[name] = fresh
                self._backoff.pop(name, None)
            return value, self._meta(fresh, fresh=True)
        with self._lock:
            self._backoff[name] = (time.monotonic() + BACKOFF_S, error)
        if snap is not None:
            return snap.value, {**self._meta(snap, fresh=False), "reason": error}
        raise ApiError(
            503,
            "warehouse busy: a sync holds it and no earlier snapshot exists yet",
            {"reason": error, "retry_after_s": 2},
            {"Retry-After": "2"},
        )

    @property
    def location(self) -> str:
        """The DuckDB file, or host:port/db of the PostgreSQL warehouse (never the password)."""
        if self.url:
            from chitty_pipelines.warehouse.backend import describe_url

            return describe_url(self.url)
        return str(self.path)

    def exists(self) -> bool:
        return bool(self.url) or self.path.exists()

    def _read_once(self, fn: Callable[[Any], Any]) -> Any:
        if self.url:  # one short transaction; DuckDB-dialect queries are transpiled
            from chitty_pipelines.warehouse.store import Warehouse

            if self._pg is None:  # one object: it bootstraps the schema once, not per read
                self._pg = Warehouse("unused", url=self.url)
            with self._pg.connect() as con:
                return fn(con)
        import duckdb

        with self._read_lock:
            con = duckdb.connect(str(self.path), read_only=True)
            try:
                return fn(con)
            finally:
                con.close()

    def _meta(self, snap: Snapshot, fresh: bool) -> dict[str, Any]:
        return {
            "reachable": fresh,
            "fresh": fresh,
            "as_of": iso(snap.at_wall),
            "age_s": round(time.monotonic() - snap.at, 3),
        }

    def probe(self) -> dict[str, Any]:
        """Can the warehouse be opened for reading right now? (GET /health)"""
        where = self.location
        if not self.exists():
            return {"reachable": True, "exists": False, "path": where}
        try:
            self._read_once(lambda con: con.execute("SELECT 1").fetchone())
            return {"reachable": True, "exists": True, "path": where}
        except Exception as exc:
            return {"reachable": False, "exists": True, "path": where, "reason": _describe(exc)}


def _describe(exc: BaseException) -> str:
    text = config.scrub(str(exc)).splitlines()[0] if str(exc) else ""
    if "lock" in text.lower():
        return "locked by another process (a sync is writing)"
    return f"{type(exc).__name__}: {text[:200]}"


def _tables(con: Any) -> set[str]:
    return {
        f"{s}.{t}"
        for s, t in con.execute("SELECT table_schema, table_name FROM information_schema.tables").fetchall()
    }


def _rows(con: Any, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
    cur = con.execute(sql, params or [])
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


# --- warehouse queries (each a function of a read-only connection) ------------------------------
def platform_rows(con: Any) -> dict[str, Any]:
    """Per platform: last sync-log row and row counts of its raw tables."""
    from chitty_pipelines.platforms import registry

    have = _tables(con)
    last: dict[str, tuple[Any, Any]] = {}
    if "ops.sync_log" in have:
        for platform, finished, status in con.execute(
            "SELECT platform, finished_at, status FROM ops.sync_log "
            "QUALIFY row_number() OVER (PARTITION BY platform ORDER BY finished_at DESC) = 1"
        ).fetchall():
            last[platform] = (finished, status)
    out: dict[str, Any] = {}
    for spec in registry.PLATFORMS:
        rows = 0
        for table in sorted(t for t in have if t.startswith(f"{spec.schema}.{spec.table_prefix}")):
            schema, name = table.split(".", 1)
            rows += int(con.execute(f'SELECT count(*) FROM "{schema}"."{name}"').fetchone()[0])
        finished, status = last.get(spec.name, (None, None))
        out[spec.name] = {"last_sync": iso(finished), "last_status": status, "rows": rows}
    return out


def unified_projects(con: Any) -> list[dict[str, Any]]:
    if "unified.projects" not in _tables(con):
        return []
    return _rows(
        con,
        "SELECT project_key, name, chitty_id, id_source, platforms, git_remote, "
        "registered_path, last_active_at FROM unified.projects ORDER BY project_key",
    )


def topic_categories(con: Any) -> list[dict[str, Any]]:
    if "unified.topics" not in _tables(con):
        return []
    return _rows(
        con,
        "SELECT topic_id, session_count, avg_confidence, last_updated FROM unified.topics "
        "WHERE level = 'category' ORDER BY topic_id",
    )


def sync_history(con: Any, limit: int = 100) -> list[dict[str, Any]]:
    if "ops.sync_log" not in _tables(con):
        return []
    rows = _rows(
        con,
        "SELECT run_id, platform, asset, started_at, finished_at, status, rows_written, "
        "rejects, message FROM ops.sync_log ORDER BY finished_at DESC LIMIT ?",
        [limit],
    )
    return [{k: iso(v) if isinstance(v, datetime) else v for k, v in r.items()} for r in rows]


class Store:
    """What the route modules call: the hub store, the warehouse reads and the runs."""

    def __init__(self, hub: Hub, warehouse_path: Path, warehouse_url: str | None = None):
        self.hub = hub
        self.warehouse = WarehouseReads(Path(warehouse_path), warehouse_url)
        self._configured: tuple[float, dict[str, bool]] | None = None

    def configured(self) -> dict[str, bool]:
        """Which platforms are configured, re-read every CONFIGURED_MAX_AGE_S: for the local AI
        tools it means walking the exports folder, too much for every status request."""
        now = time.monotonic()
        if self._configured is None or now - self._configured[0] > CONFIGURED_MAX_AGE_S:
            from chitty_pipelines.platforms import registry

            self._configured = (now, {spec.name: spec.configured() for spec in registry.PLATFORMS})
        return self._configured[1]

    # warehouse reads, snapshot-backed
    def platforms(self) -> tuple[dict[str, Any], dict[str, Any]]:
        return self.warehouse.read("platforms", platform_rows, {})

    def unified_projects(self) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        return self.warehouse.read("projects", unified_projects, [])

    def topic_categories(self) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        return self.warehouse.read("topics", topic_categories, [])

    def sync_history(self) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        return self.warehouse.read("history", sync_history, [])

    # the one warehouse write: manual topic labels (the same store as ``chitty-sync topic set``)
    def write_warehouse(self, fn: Callable[[Any], Any]) -> Any:
        """``fn(warehouse)`` with a writable warehouse that waits at most LABEL_WAIT_S for a
        sync's lock (then 503 with Retry-After: the label is not written). Serialised with the
        read-only reads: DuckDB refuses a read-only and a writable handle on one file in one
        process. The snapshots are dropped so the next read shows the write."""
        from chitty_pipelines.warehouse.resource import WarehouseResource

        resource = WarehouseResource.from_settings()
        if not resource.resolved_url and not self.warehouse.path.exists():
            # Opening it would create an empty warehouse: nothing a label could name is there.
            raise ApiError(404, "no warehouse yet: no session to label (run a sync first)")
        wh = Warehouse(self.warehouse.path, LABEL_WAIT_S, resource.memory_limit, url=resource.resolved_url)
        with self.warehouse._read_lock:
            try:
                return fn(wh)
            except ApiError:
                raise
            except Exception as exc:
                reason = _describe(exc)
                if "lock" not in reason:
                    raise
                raise ApiError(
                    503,
                    "warehouse busy: a sync holds it; nothing was written, try again",
                    {"reason": reason, "retry_after_s": 5},
                    {"Retry-After": "5"},
                ) from None
            finally:
                with self.warehouse._lock:
                    self.warehouse._cache.clear()
