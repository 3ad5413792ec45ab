"""The two databases the op store and hub store run on, behind one small interface, so every
statement of warehouse/opstore.py and warehouse/hubstore.py is written once.

* ``SqliteDb``: a SQLite file in WAL mode (the default, under ``$CHITTY_HOME``).
* ``PgDb``: the ``ops`` schema of the PostgreSQL warehouse (``CHITTY_WAREHOUSE_URL``): nothing
  on local disk, so a worker on another machine shares every piece of ops state.

Statements use ``?`` placeholders and ``{name}`` table names (``TABLES``); ``Con.execute``
rewrites both for the database at hand. They are plain SQL both databases run as written
(``INSERT ... ON CONFLICT``, no ``INSERT OR ...``). Rows answer ``row["column"]`` and ``dict(row)``.

Writes are serialized per store on either database (SQLite: ``BEGIN IMMEDIATE``; PostgreSQL: a
transaction-scoped advisory lock, released with the transaction, so a dead writer never holds
it), which is what makes read-then-write methods (a heartbeat, a todo list's sequence number)
correct without row locks.
"""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, Protocol

# The store's tables by the name statements use -> (SQLite name, PostgreSQL name).
TABLES: dict[str, tuple[str, str]] = {
    "projects": ("projects", "ops.registered_projects"),
    "sessions": ("sessions", "ops.registered_sessions"),
    "hub_meta": ("hub_meta", "ops.hub_meta"),
    "api_tokens": ("api_tokens", "ops.api_tokens"),
    "todo_items": ("todo_items", "ops.todo_items"),
    "topic_conversations": ("topic_conversations", "ops.topic_conversations"),
    "api_runs": ("api_runs", "ops.api_runs"),
}
SQLITE_TABLES = {k: v[0] for k, v in TABLES.items()}
PG_TABLES = {k: v[1] for k, v in TABLES.items()}

# Columns added to the SQLite store after its first release: added in place when an older file is
# opened (PostgreSQL's arrive as migrations).
_ADDED_COLUMNS: dict[str, tuple[tuple[str, str], ...]] = {
    "sessions": (("chitty_id", "TEXT"), ("id_source", "TEXT")),
    "projects": (("removed_at", "TEXT"),),  # soft delete (issue 15)
    # who chose a filed conversation's category (the API answered it, then forgot it)
    "topic_conversations": (("categorized_by", "TEXT"),),
}

# any fixed 64-bit number: the hub's write lock, shared by every process on the database
_PG_WRITE_LOCK = 0x4368697474794855

_DML = re.compile(r"^\s*(INSERT|UPDATE|DELETE)\b", re.IGNORECASE)


class Con:
    """One connection (or transaction) of a store; counts the rows its statements changed."""

    def __init__(self, execute: Any, executemany: Any, tables: dict[str, str], pg: bool):
        self._execute = execute
        self._executemany = executemany
        self._tables = tables
        self._pg = pg
        self.changes = 0

    def _sql(self, sql: str) -> str:
        sql = sql.format_map(self._tables)
        return sql.replace("?", "%s") if self._pg else sql

    def execute(self, sql: str, params: Any = ()) -> Any:
        cur = self._execute(self._sql(sql), params)
        if _DML.match(sql):
            self.changes += max(cur.rowcount, 0)
        return cur

    def executemany(self, sql: str, rows: list[Any]) -> None:
        cur = self._executemany(self._sql(sql), rows)
        self.changes += max(cur.rowcount, 0)


class Db(Protocol):
    kind: str
    where: Path | str  # what `status` and GET /health print: the file, or host/db (never a password)

    def connect(self) -> Any: ...  # a context manager of Con (reads, autocommitted writes)
    def write(self) -> Any: ...  # a context manager of Con: one serialized write transaction
    def journal_mode(self) -> str: ...


class SqliteDb:
    kind = "sqlite"

    def __init__(self, path: Path, busy_timeout_s: float, keep_open: bool, schema_sql: str):
        self.where = self.path = path
        self.busy_timeout_s = busy_timeout_s
        self.keep_open = keep_open
        self.schema_sql = schema_sql
        self._ready = False
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
                con.executescript(self.schema_sql)
                _add_columns(con)
                self._ready = True
            con.execute("PRAGMA synchronous = NORMAL")
        except BaseException:
            con.close()
            raise
        return con

    @contextmanager
    def _raw(self) -> Iterator[sqlite3.Connection]:
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
    def connect(self) -> Iterator[Con]:
        with self._raw() as raw:
            yield Con(raw.execute, raw.executemany, SQLITE_TABLES, pg=False)

    @contextmanager
    def write(self) -> Iterator[Con]:
        with self._raw() as raw:
            raw.execute("BEGIN IMMEDIATE")
            try:
                yield Con(raw.execute, raw.executemany, SQLITE_TABLES, pg=False)
            except BaseException:
                raw.execute("ROLLBACK")
                raise
            raw.execute("COMMIT")

    def journal_mode(self) -> str:
        with self._raw() as raw:
            return str(raw.execute("PRAGMA journal_mode").fetchone()[0])


class PgDb:
    """The warehouse's ``ops`` schema; its tables are warehouse migrations (2, 5, 6). One
    connection per call (the CLI, a step: PgBouncer-friendly), or with ``keep_open`` one per
    thread, kept between calls (``chitty-sync serve``: opening a connection costs more than a
    hub query, ~20 ms against ~1 ms). Either way each call is its own transaction, committed or
    rolled back when it ends, so a kept connection never sits inside a transaction."""

    kind = "postgres"

    def __init__(self, url: str, keep_open: bool = False):
        from chitty_pipelines.warehouse.store import Warehouse

        self.url = url
        self.warehouse = Warehouse("unused", url=url)
        self.where = f"{self.warehouse.location} (ops schema)"
        self.keep_open = keep_open
        self._local = threading.local()
        self._migrated = False

    @contextmanager
    def _raw(self) -> Iterator[Any]:
        if not self.keep_open:
            with self.warehouse.connect() as con:  # commits when the block ends, rolls back on error
                yield con.raw
            return
        raw = getattr(self._local, "con", None)
        if raw is None or raw.closed or raw.broken:  # first use, or the server dropped it
            if not self._migrated:
                with self.warehouse.connect():  # creates the ops tables on a new database
                    self._migrated = True
            raw = self._local.con = self.warehouse.backend.open()
        try:
            yield raw
        except BaseException:
            with suppress(Exception):
                raw.rollback()
            raise
        raw.commit()

    @contextmanager
    def connect(self) -> Iterator[Con]:
        from psycopg.rows import dict_row

        with self._raw() as raw:

            def execute(sql: str, params: Any) -> Any:
                return raw.cursor(row_factory=dict_row).execute(sql, params)

            def executemany(sql: str, rows: list[Any]) -> Any:
                cur = raw.cursor(row_factory=dict_row)
                cur.executemany(sql, rows)
                return cur

            yield Con(execute, executemany, PG_TABLES, pg=True)

    @contextmanager
    def write(self) -> Iterator[Con]:
        with self.connect() as con:
            con.execute("SELECT pg_advisory_xact_lock(?)", [_PG_WRITE_LOCK])
            yield con

    def journal_mode(self) -> str:
        return "postgresql"


def _add_columns(con: sqlite3.Connection) -> None:
    for table, columns in _ADDED_COLUMNS.items():
        have = {r[1] for r in con.execute(f"PRAGMA table_info({table})")}
        if not have:  # a store without that table (the op store alone, without the hub's)
            continue
        for name, sql_type in columns:
            if name not in have:
                try:
                    con.execute(f"ALTER TABLE {table} ADD COLUMN {name} {sql_type}")
                except sqlite3.OperationalError as exc:  # another process added it meanwhile
                    if "duplicate column" not in str(exc):
                        raise
