"""The warehouse: embedded DuckDB by default, PostgreSQL with ``CHITTY_WAREHOUSE_URL``
(warehouse/backend.py holds both backends; nothing here or in callers branches on which).

DuckDB lets one process at a time open a database file for writing. Dagster's multiprocess
executor and two CLI runs at once are several processes, so the rules here are:

* connections are short: open, do one transaction, close;
* extraction happens before the connection is opened, never while the lock is held;
* opening waits and retries (with jitter) while another process holds the lock, up to
  ``lock_timeout_s``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chitty_pipelines.config import scrub
from chitty_pipelines.warehouse.backend import Backend, DuckDBBackend, PostgresBackend, is_disconnect
from chitty_pipelines.warehouse.ops_tables import OPS_TABLES, REJECTS, SYNC_CURSORS, SYNC_LOG
from chitty_pipelines.warehouse.tables import TableSpec, quote, validate_identifier

if TYPE_CHECKING:
    # Imported where used: loading the code location (every step process does) stays cheap.
    import duckdb
    import pandas as pd
    import pyarrow as pa

log = logging.getLogger(__name__)

# Platform schemas (raw_<platform>) are created with their first table (Transaction.ensure), so
# the warehouse needs no list of platforms.
SCHEMAS: tuple[str, ...] = ("unified", "ops")
EXCERPT_CHARS = 300


@dataclass(frozen=True)
class Reject:
    platform: str
    stream: str
    source: str
    location: str
    reason: str
    excerpt: str = ""

    def row(self, run_id: str | None, now: datetime) -> dict[str, Any]:
        key = "\x1f".join((self.platform, self.stream, self.source, self.location))
        return {
            "reject_id": hashlib.sha1(key.encode()).hexdigest(),
            "platform": self.platform,
            "stream": self.stream,
            # Masked before cutting: a cut secret would no longer match its value.
            "source": scrub(self.source),
            "location": scrub(self.location),
            "reason": scrub(self.reason)[:500],
            "excerpt": scrub(self.excerpt)[:EXCERPT_CHARS],
            "run_id": run_id,
            "rejected_at": now,
        }


# Up to this many Python rows, an upsert binds them as parameters instead of building Arrow
# (backend.DuckDBBackend.upsert_rows and PostgresBackend.upsert_rows say why).
SMALL_UPSERT_ROWS = 256


class Transaction:
    """Writes that commit together: data, cursors, rejects. Obtained from ``Warehouse.transaction``."""

    def __init__(self, con: duckdb.DuckDBPyConnection, run_id: str | None, backend: Backend | None = None):
        self.con = con
        self.run_id = run_id
        self.now = datetime.now(UTC)
        self.backend: Backend = backend or DuckDBBackend(":memory:")

    def ensure(self, table: TableSpec) -> list[str]:
        """Create ``table``, or add the columns its spec gained since (their names, returned):
        a table an older version created must not fail every write of a newer one."""
        # every time (no per-transaction memo): a caller may have dropped the table meanwhile
        return self.backend.ensure(self.con, table)

    def upsert(self, table: TableSpec, rows: Sequence[Mapping[str, Any]] | pa.Table) -> int:
        """Insert rows, replacing any row with the same primary key. Returns rows written.

        Within one batch the last row for a key wins.
        """
        if isinstance(rows, Sequence):
            if not rows:
                return 0
            if len(rows) <= SMALL_UPSERT_ROWS:
                self.ensure(table)
                # No Arrow for a few Python rows (pyarrow imports pandas on its first conversion
                # of Python values): DuckDB stages them in a temp table, PostgreSQL sends one
                # INSERT ... VALUES, unless a value is not plain for its column (then Arrow).
                if self.backend.upsert_rows(self.con, table, rows):
                    return len(rows)
        import pyarrow as pa

        from chitty_pipelines.warehouse.arrow_columns import positions

        batch = rows if isinstance(rows, pa.Table) else _to_arrow(table, rows)
        if batch.num_rows == 0:
            return 0
        self.ensure(table)
        batch = batch.append_column("__seq", positions(batch.num_rows))
        self.backend.upsert(self.con, table, batch)
        return batch.num_rows

    def append(self, table: TableSpec, rows: pa.Table) -> int:
        """Insert Arrow rows as they are, in one statement: for callers that already deleted
        whatever these rows replace (no key join against the stored table). Returns rows written."""
        if rows.num_rows == 0:
            return 0
        self.ensure(table)
        self.backend.append(self.con, table, rows)
        return rows.num_rows

    def append_columns(self, table: TableSpec, rows: pa.Table) -> int:
        """Insert Arrow rows whose columns are some of the table's (by name), in one statement:
        DuckDB reads the Arrow table, PostgreSQL takes it by binary COPY. Returns rows written."""
        if rows.num_rows == 0:
            return 0
        self.backend.append_columns(self.con, table, rows)
        return rows.num_rows

    def append_new(self, table: TableSpec, rows: pa.Table, expected_rows: int) -> int | None:
        """Append rows whose keys the table should not hold yet (a first, whole-history sync):
        the rows written, or None, with nothing written, when appending could duplicate a key.
        ``expected_rows``: the rows this caller appended before. DuckDB (no key constraint)
        appends only while the table holds exactly those; PostgreSQL appends by COPY under a
        savepoint and its unique key index refuses a key the table already holds, so it needs no
        row count (a full scan per chunk)."""
        if rows.num_rows == 0:
            return 0
        if not self.backend.append_new(self.con, table, rows, expected_rows):
            return None
        return rows.num_rows

    def begin_bulk_load(self, table: TableSpec) -> str | None:
        """A first load into an empty table, whole in this transaction: PostgreSQL sets the
        table's unique key index aside (rebuilt by ``end_bulk_load`` before the commit) and
        returns a token; None when the table holds rows, or on DuckDB (no key index). Until
        the transaction ends, other transactions wait to read or write the table."""
        return self.backend.begin_bulk_load(self.con, table)

    def end_bulk_load(self, token: str) -> None:
        """Rebuild the key index; a key loaded twice raises (roll the transaction back)."""
        self.backend.end_bulk_load(self.con, token)

    def delete_where(self, table: TableSpec, column: str, values: Iterable[Any]) -> None:
        values = list(values)
        if not values:
            return
        self.ensure(table)
        self.con.execute(
            f"DELETE FROM {table.sql_name} WHERE {quote(column)} IN (SELECT unnest(?))", [values]
        )

    def set_cursor(self, platform: str, stream: str, key: str, value: Any) -> None:
        self.set_cursors(platform, stream, {key: value})

    def set_cursors(self, platform: str, stream: str, values: Mapping[str, Any]) -> None:
        self.upsert(
            SYNC_CURSORS,
            [
                {
                    "platform": platform,
                    "stream": stream,
                    "cursor_key": key,
                    "cursor_value": json.dumps(value, default=str),
                    "updated_at": self.now,
                }
                for key, value in values.items()
            ],
        )

    def clear_cursors(self, platform: str, stream: str | None = None) -> None:
        if stream is None:
            self.con.execute(f"DELETE FROM {SYNC_CURSORS.sql_name} WHERE platform = ?", [platform])
        else:
            self.con.execute(
                f"DELETE FROM {SYNC_CURSORS.sql_name} WHERE platform = ? AND stream = ?", [platform, stream]
            )

    def add_rejects(self, rejects: Iterable[Reject]) -> int:
        rows = [r.row(self.run_id, self.now) for r in rejects]
        return self.upsert(REJECTS, rows)

    def log_sync(
        self,
        *,
        platform: str,
        asset: str,
        started_at: datetime,
        status: str,
        rows_written: int = 0,
        bytes_read: int = 0,
        rejects: int = 0,
        full_refresh: bool = False,
        message: str = "",
    ) -> None:
        self.upsert(
            SYNC_LOG,
            [
                {
                    "run_id": self.run_id or f"adhoc-{self.now.isoformat()}",
                    "platform": platform,
                    "asset": asset,
                    "started_at": started_at,
                    "finished_at": datetime.now(UTC),
                    "status": status,
                    "rows_written": rows_written,
                    "bytes_read": bytes_read,
                    "rejects": rejects,
                    "full_refresh": full_refresh,
                    "message": scrub(message)[:1000],
                }
            ],
        )


def _to_arrow(table: TableSpec, rows: Sequence[Mapping[str, Any]]) -> pa.Table:
    import pyarrow as pa

    from chitty_pipelines.warehouse.arrow_columns import column_to_arrow

    schema = table.arrow_schema()
    columns = [column_to_arrow([row.get(f.name) for row in rows], f.type) for f in schema]
    return pa.Table.from_arrays(columns, schema=schema)


# Within ``held_connections()`` a thread keeps each warehouse file's connection open between
# calls: opening a DuckDB file costs ~10 ms (catalog load), and a unified step makes dozens of
# small queries. Only for steps that do nothing but warehouse work: the file lock is held for the
# whole scope, so extraction (network, file parsing) must stay outside it.
_held = threading.local()


@contextmanager
def held_connections() -> Iterator[None]:
    """Reuse one connection per warehouse file in this thread until the scope ends."""
    if getattr(_held, "active", False):
        yield
        return
    _held.active, _held.cons = True, {}
    try:
        yield
    finally:
        cons, _held.active, _held.cons = _held.cons, False, {}
        for con, lock in cons.values():
            try:
                con.close()
            finally:
                lock.release()


class Warehouse:
    """The warehouse (DuckDB file, or PostgreSQL when ``url`` is set) and the few operations
    every platform needs."""

    def __init__(
        self,
        path: Path | str,
        lock_timeout_s: float = 600.0,
        memory_limit: str | None = None,
        url: str | None = None,
    ):
        self.path = Path(path)
        self.lock_timeout_s = lock_timeout_s
        # DuckDB's buffer-manager budget (e.g. "256MB"); None keeps DuckDB's default (80% of RAM).
        self.memory_limit = memory_limit or None
        # "<path>#<inode>" once this object has created the schemas, ops tables and migrations
        # (per object, not per process: a file changed behind our back is migrated on reopen).
        self._bootstrapped: set[str] = set()
        self.url = url or None
        self.backend: Backend = (
            PostgresBackend(self.url)
            if self.url
            else DuckDBBackend(self.path, lock_timeout_s, self.memory_limit)
        )
        self._pg_bootstrapped = False

    def _lock(self) -> threading.RLock:
        return self.backend._lock()  # type: ignore[union-attr]  # DuckDB only

    def _open(self) -> duckdb.DuckDBPyConnection:
        return self.backend._open()  # type: ignore[union-attr]  # DuckDB only

    @property
    def kind(self) -> str:
        """``duckdb`` or ``postgres``."""
        return self.backend.name

    @property
    def location(self) -> str:
        """The DuckDB file, or ``host:port/db`` of the PostgreSQL warehouse (never a password)."""
        return self.backend.location

    def exists(self) -> bool:
        """Anything synced yet: the DuckDB file exists (a PostgreSQL warehouse always does; its
        tables say the rest)."""
        return True if self.url else self.path.exists()

    @contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        if self.url:  # PostgreSQL: one short transaction per connection, no file lock
            with self.backend.connect() as con:
                if not self._pg_bootstrapped:
                    _bootstrap(con, self.backend)
                    self._pg_bootstrapped = True
                yield con
            return
        key = str(self.path.resolve())
        if getattr(_held, "active", False):
            held = _held.cons.get(key)
            if held is None:
                lock = self._lock()
                lock.acquire()
                try:
                    held = (self._ready(self._open(), key), lock)
                except BaseException:
                    lock.release()
                    raise
                _held.cons[key] = held
            yield held[0]
            return
        with self._lock():
            con = self._open()
            try:
                yield self._ready(con, key)
            finally:
                con.close()

    def _ready(self, con: duckdb.DuckDBPyConnection, key: str) -> duckdb.DuckDBPyConnection:
        # Keyed by inode too: a file deleted and created anew under the same name is bootstrapped.
        ident = f"{key}#{self.path.stat().st_ino}"
        if ident not in self._bootstrapped:
            _bootstrap(con)
            self._bootstrapped.add(ident)
        return con

    @contextmanager
    def transaction(self, run_id: str | None = None) -> Iterator[Transaction]:
        """One atomic unit: everything written through the Transaction commits or none of it."""
        with self.connect() as con:
            if self.url:
                with _transaction(con, run_id, self.backend) as tx:
                    yield tx
                return
            if _in_transaction(con):
                # A transaction opened inside another one on a held connection: give it its own
                # connection (DuckDB shares the database within the process), as outside the scope.
                with self._lock():
                    own = self._open()
                    try:
                        with _transaction(own, run_id, self.backend) as tx:
                            yield tx
                    finally:
                        own.close()
                return
            with _transaction(con, run_id, self.backend) as tx:
                yield tx

    def _read(self, sql: str, params: Sequence[Any] | None, take: Any) -> Any:
        """One read in its own connection; on PostgreSQL a connection lost to a server restart is
        retried once (reads are idempotent; opening waits for the server to be back)."""
        for attempt in (1, 2):
            try:
                with self.connect() as con:
                    return take(con.execute(sql, params or []))
            except Exception as exc:
                if attempt == 2 or not is_disconnect(exc):
                    raise
                log.info("warehouse connection lost (%s), reading again", type(exc).__name__)
        raise AssertionError("unreachable")

    def query(self, sql: str, params: Sequence[Any] | None = None) -> pd.DataFrame:
        """A DataFrame, for display and analysis (the CLI). Not for a sync's path: pandas makes a
        NULL NaN or NaT, and an integer column with a NULL floats; use ``records`` or ``rows``."""
        return self._read(sql, params, lambda cur: cur.df())

    def records(self, sql: str, params: Sequence[Any] | None = None) -> list[dict[str, Any]]:
        """Rows as dicts: for small reads on a sync's path, where a DataFrame would import pandas
        (~0.15-0.4 s) into a step that has no other use for it."""

        def take(cur: Any) -> list[dict[str, Any]]:
            rows = cur.fetchall()
            names = [d[0] for d in cur.description or ()]
            return [dict(zip(names, row, strict=True)) for row in rows]

        return self._read(sql, params, take)

    def rows(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
        """Rows as tuples of plain Python values (NULL is None, integers stay int, times are
        datetimes), for reads that unpack columns by position; same retry as ``records``."""
        return self._read(sql, params, lambda cur: cur.fetchall())

    def scalar(self, sql: str, params: Sequence[Any] | None = None) -> Any:
        row = self._read(sql, params, lambda cur: cur.fetchone())
        return row[0] if row else None

    def table_exists(self, schema: str, name: str) -> bool:
        return bool(
            self.scalar(
                "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
                [validate_identifier(schema), validate_identifier(name)],
            )
        )

    def row_count(self, table: TableSpec) -> int:
        if not self.table_exists(table.schema, table.name):
            return 0
        return int(self.scalar(f"SELECT count(*) FROM {table.sql_name}"))

    def cursors(self, platform: str, stream: str) -> dict[str, Any]:
        # rows, not query(): a DataFrame would import pandas (~0.7 s) into every sync step
        found = self.rows(
            f"SELECT cursor_key, cursor_value FROM {SYNC_CURSORS.sql_name} WHERE platform = ? AND stream = ?",
            [platform, stream],
        )
        return {k: json.loads(v) for k, v in found}


def _in_transaction(con: duckdb.DuckDBPyConnection) -> bool:
    return id(con) in _open_transactions


_open_transactions: set[int] = set()


@contextmanager
def _transaction(
    con: duckdb.DuckDBPyConnection, run_id: str | None, backend: Backend
) -> Iterator[Transaction]:
    con.execute("BEGIN TRANSACTION")
    _open_transactions.add(id(con))
    try:
        yield Transaction(con, run_id, backend)
    except BaseException:
        con.execute("ROLLBACK")
        raise
    finally:
        _open_transactions.discard(id(con))
    con.execute("COMMIT")


def _bootstrap(con: duckdb.DuckDBPyConnection, backend: Backend | None = None) -> None:
    if backend is not None and backend.name == "postgres":
        from chitty_pipelines.warehouse.migrations import migrate

        migrate(con, backend)
        return
    for schema in SCHEMAS:
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {quote(schema)}")
    for table in OPS_TABLES:
        con.execute(table.create_sql())
    _scrub_stored_messages(con)
    _rename_last_activity_at(con)


# Text stored before messages were masked (issue 15): scrubbed once per warehouse, recorded in
# ops.migrations so that opening the warehouse stays cheap afterwards.
SCRUB_MIGRATION = "0001_scrub_stored_secrets"
_SCRUBBED_COLUMNS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("ops", "service_registrations", ("message",)),
    ("ops", "sync_log", ("message",)),
    ("ops", "rejects", ("source", "location", "reason", "excerpt")),
)


# The contract's name is last_active_at (sessions had it); projects and project_aliases said
# last_activity_at until issue 15. Renamed in place on open, rows kept; idempotent.
RENAME_MIGRATION = "0002_last_active_at"
_RENAMED_COLUMNS = (("unified", "projects"), ("unified", "project_aliases"))


def _rename_last_activity_at(con: duckdb.DuckDBPyConnection) -> None:
    if con.execute("SELECT count(*) FROM ops.migrations WHERE name = ?", [RENAME_MIGRATION]).fetchone()[0]:
        return
    con.execute("BEGIN TRANSACTION")
    try:
        for schema, name in _RENAMED_COLUMNS:
            columns = {
                c
                for (c,) in con.execute(
                    "SELECT column_name FROM information_schema.columns "
                    "WHERE table_schema = ? AND table_name = ?",
                    [schema, name],
                ).fetchall()
            }
            if "last_activity_at" in columns and "last_active_at" not in columns:
                con.execute(
                    f"ALTER TABLE {quote(schema)}.{quote(name)} "
                    "RENAME COLUMN last_activity_at TO last_active_at"
                )
        con.execute("INSERT INTO ops.migrations VALUES (?, ?)", [RENAME_MIGRATION, datetime.now(UTC)])
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise


def _scrub_stored_messages(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        "CREATE TABLE IF NOT EXISTS ops.migrations (name VARCHAR PRIMARY KEY, applied_at TIMESTAMPTZ)"
    )
    if con.execute("SELECT count(*) FROM ops.migrations WHERE name = ?", [SCRUB_MIGRATION]).fetchone()[0]:
        return
    con.execute("BEGIN TRANSACTION")
    try:
        for schema, name, columns in _SCRUBBED_COLUMNS:
            exists = con.execute(
                "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
                [schema, name],
            ).fetchone()[0]
            if not exists:
                continue
            table = f"{quote(schema)}.{quote(name)}"
            for column in columns:
                rows = con.execute(
                    f"SELECT rowid, {quote(column)} FROM {table} WHERE {quote(column)} IS NOT NULL"
                ).fetchall()
                changed = [(scrub(text), rowid) for rowid, text in rows if scrub(text) != text]
                if changed:
                    con.executemany(f"UPDATE {table} SET {quote(column)} = ? WHERE rowid = ?", changed)
        con.execute("INSERT INTO ops.migrations VALUES (?, ?)", [SCRUB_MIGRATION, datetime.now(UTC)])
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
