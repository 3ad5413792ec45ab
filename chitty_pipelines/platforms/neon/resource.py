"""Neon (PostgreSQL): the catalog on psycopg 3, the data as ``COPY ... TO STDOUT (FORMAT BINARY)``
decoded into Arrow record batches by adbc-driver-postgresql.

The DSN comes from ``NEON_DATABASE_URL`` as a Dagster ``EnvVar``. Use the *direct* host
(``ep-xxx.region.aws.neon.tech``): the ``-pooler`` host is PgBouncer in transaction mode, which
serves many short connections well but is the wrong place for a long COPY. Everything here works
through the pooler too (settings are ``SET LOCAL``, one transaction per extract), just slower.

Secrets: the DSN's password never leaves this module. Errors are re-raised as ``NeonError`` with
the password and DSN scrubbed and without the original exception chained.
"""

from __future__ import annotations

import queue
import re
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import dagster as dg
from pydantic import Field

from chitty_pipelines import config
from chitty_pipelines.platforms.neon.pg_types import SESSION_SETTINGS, PgColumn

if TYPE_CHECKING:
    # psycopg is imported where used: loading the code location does not pay for it.
    import psycopg
    import pyarrow as pa

DSN_VAR = "NEON_DATABASE_URL"


class NeonError(RuntimeError):
    """A PostgreSQL failure, with any credential scrubbed from the message."""


class NeonAuthError(NeonError):
    pass


@dataclass(frozen=True)
class TableInfo:
    schema: str
    table: str
    columns: tuple[PgColumn, ...]
    primary_key: tuple[str, ...]  # from the PRIMARY KEY constraint; () when there is none

    def column(self, name: str) -> PgColumn | None:
        return next((c for c in self.columns if c.name == name), None)


_TABLE_OID = """
SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %s AND c.relname = %s AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
"""
# Domains are resolved to their base type: a domain over jsonb is jsonb to the warehouse.
_COLUMNS = """
SELECT a.attname, bt.typname,
       format_type(bt.oid, CASE WHEN t.typtype = 'd' THEN t.typtypmod ELSE a.atttypmod END),
       et.typname, a.attnotnull
FROM pg_attribute a
JOIN pg_type t ON t.oid = a.atttypid
JOIN pg_type bt ON bt.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END
LEFT JOIN pg_type et ON et.oid = bt.typelem AND bt.typcategory = 'A'
WHERE a.attrelid = %s AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum
"""
_PRIMARY_KEY = """
SELECT a.attname FROM pg_index i
JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
WHERE i.indrelid = %s AND i.indisprimary
ORDER BY array_position(i.indkey::int2[], a.attnum)
"""


class NeonResource(dg.ConfigurableResource):
    """A Neon/PostgreSQL database read with psycopg 3 (COPY streaming, catalog discovery)."""

    database_url: str | None = Field(
        default=None, description="PostgreSQL DSN; from the NEON_DATABASE_URL secret. None = not configured."
    )
    connect_timeout_s: int = Field(default=10, description="Neon scale-to-zero cold starts need >= 10 s.")
    statement_timeout_s: float = Field(
        default=0, description="Server-side statement_timeout per query (NEON_STATEMENT_TIMEOUT_S); 0 = none."
    )
    chunk_rows: int = Field(
        default=122_880,
        description="Rows per chunk (one warehouse transaction). The default is one DuckDB row group: "
        "smaller appends go through DuckDB's WAL and are written twice.",
    )
    chunk_bytes: int = Field(default=64 << 20, description="Arrow bytes per chunk at most (memory bound).")
    write_threads: int = Field(
        default=1,
        description="DuckDB threads while a stream writes (0: DuckDB's default). One leaves the other "
        "core to the COPY reader thread; measured on 2 cores, 1M events: 1.9 s to write with 1 thread, "
        "2.6 s with 2.",
    )
    bulk_load_rows: int = Field(
        default=2_000_000,
        description="A first sync into an empty PostgreSQL warehouse table whose keys do not arrive in order "
        "(random UUIDs) loads up to about this many rows in one transaction, its unique key index "
        "built once at the end (1M events: ~1.4 s less server CPU); a crash there loses that "
        "transaction's rows, and readers of the table wait for it. The rest goes chunk by chunk. "
        "0: always chunk by chunk.",
    )
    lookback_seconds: float = Field(
        default=600.0, description="Default overlap re-read below a stream's high-water mark."
    )
    application_name: str = Field(default="chitty-pipelines")

    @classmethod
    def from_settings(cls) -> NeonResource:
        return cls(
            database_url=config.secret(DSN_VAR),  # type: ignore[arg-type]  # EnvVar resolves at run time
            chunk_rows=config.number("NEON_CHUNK_ROWS", 122_880, int, minimum=1),
            bulk_load_rows=max(0, config.number("NEON_BULK_LOAD_ROWS", 2_000_000, int)),
            lookback_seconds=config.number("NEON_LOOKBACK_SECONDS", 600, minimum=0),
            connect_timeout_s=max(1, config.number("NEON_CONNECT_TIMEOUT_S", 10, int)),
            statement_timeout_s=config.number("NEON_STATEMENT_TIMEOUT_S", 0, minimum=0),
        )

    @property
    def dsn(self) -> str | None:
        """The DSN. Inside a run Dagster has already resolved the EnvVar; outside one (the
        ``chitty-sync status`` health probe) it is resolved here."""
        return config.secret_value(self.database_url)

    @property
    def configured(self) -> bool:
        return bool(self.dsn)

    # -- secrets ------------------------------------------------------------------------------
    def _secrets(self) -> list[str]:
        dsn = self.dsn
        if not dsn:
            return []
        found = [dsn]
        import psycopg
        from psycopg.conninfo import conninfo_to_dict

        try:
            password = conninfo_to_dict(dsn).get("password")
        except psycopg.ProgrammingError:
            password = None
        if password:
            # As written in a URL (percent-encoded) and as the server sees it.
            found += [str(password), quote(str(password), safe="")]
        return found

    def scrub(self, text: str) -> str:
        for secret in sorted(self._secrets(), key=len, reverse=True):
            text = text.replace(secret, "***")
        return text

    def host_kind(self) -> str:
        """``pooled`` for Neon's PgBouncer (-pooler) host, else ``direct``."""
        import psycopg
        from psycopg.conninfo import conninfo_to_dict

        try:
            host = str(conninfo_to_dict(self.dsn or "").get("host") or "")
        except psycopg.ProgrammingError:
            return "unknown"
        return "pooled" if "-pooler" in host else "direct"

    def _error(self, exc: BaseException, doing: str) -> NeonError:
        import psycopg

        message = self.scrub(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)
        # psycopg and the ADBC driver (libpq underneath both) word it the same way.
        if "authentication" in message.lower() and not isinstance(exc, psycopg.ProgrammingError):
            return NeonAuthError(f"{doing}: authentication failed; fix {DSN_VAR} ({message})")
        if re.search(r'database ".*" does not exist', message):  # not retried either
            return NeonAuthError(f"{doing}: no such database; fix the database name in {DSN_VAR} ({message})")
        return NeonError(f"{doing}: {type(exc).__name__}: {message}")

    def _unreachable(self, err: NeonError) -> NeonError:
        """A connection that failed twice, with the settings that decide it: the host (and port) of
        NEON_DATABASE_URL, and for a server that did not answer, NEON_CONNECT_TIMEOUT_S."""
        text = str(err)
        if "timeout expired" in text.lower():
            return NeonError(
                f"{text} (no answer within NEON_CONNECT_TIMEOUT_S={self.connect_timeout_s} s, twice: "
                f"check the host of {DSN_VAR}, or raise the timeout for a slow cold start)"
            )
        return NeonError(f"{text} (check the host and port of {DSN_VAR})")

    # -- connections --------------------------------------------------------------------------
    @contextmanager
    def connect(self) -> Iterator[psycopg.Connection]:
        """A connection (not autocommit). One retry after a pause covers a Neon cold start;
        authentication failures are not retried."""
        dsn = self.dsn
        if not dsn:
            raise NeonError(f"Neon is not configured: set {DSN_VAR}")
        import psycopg

        con: psycopg.Connection | None = None
        for attempt in (1, 2):
            try:
                con = psycopg.connect(
                    dsn,
                    connect_timeout=self.connect_timeout_s,
                    application_name=self.application_name,
                    **self._options(),
                )
                break
            except psycopg.Error as exc:
                err = self._error(exc, "connecting to Neon")
                if isinstance(err, NeonAuthError):
                    raise err from None
                if attempt == 2:
                    raise self._unreachable(err) from None
            time.sleep(1.0)
        assert con is not None
        try:
            yield con
        finally:
            con.close()

    # -- catalog ------------------------------------------------------------------------------
    def describe(self, con: psycopg.Connection, schema: str, table: str) -> TableInfo | None:
        """The table's columns and primary key from pg_catalog, or None if it does not exist."""
        import psycopg

        try:
            row = con.execute(_TABLE_OID, [schema, table]).fetchone()
            if row is None:
                return None
            oid = row[0]
            columns = tuple(
                PgColumn(name, typname, formatted, elem, bool(not_null))
                for name, typname, formatted, elem, not_null in con.execute(_COLUMNS, [oid]).fetchall()
            )
            pk = tuple(r[0] for r in con.execute(_PRIMARY_KEY, [oid]).fetchall())
        except psycopg.Error as exc:
            raise self._error(exc, f"reading the catalog for {schema}.{table}") from None
        return TableInfo(schema, table, columns, pk)

    # -- extraction ---------------------------------------------------------------------------
    def adbc_uri(self) -> str:
        """The DSN with our connect timeout and application name, for libpq inside the driver."""
        from psycopg.conninfo import make_conninfo

        timeout = str(self.connect_timeout_s)
        return make_conninfo(
            self.dsn or "", connect_timeout=timeout, application_name=self.application_name, **self._options()
        )

    def _options(self) -> dict[str, str]:
        """libpq ``options`` setting statement_timeout (milliseconds) when one is configured."""
        if self.statement_timeout_s <= 0:
            return {}
        return {"options": f"-c statement_timeout={int(self.statement_timeout_s * 1000)}"}

    @contextmanager
    def arrow_batches(self, query: str) -> Iterator[Iterator[pa.RecordBatch]]:
        """Record batches of ``query`` (a complete SELECT, literals inlined), read by the driver
        as one ``COPY ... TO STDOUT (FORMAT BINARY)`` in one transaction (one snapshot).

        A reader thread keeps the next batches coming while the caller writes the previous ones:
        the driver decodes with the GIL released and DuckDB inserts with it released, so on two
        cores reading and writing overlap. At most ``_PREFETCH`` batches of about
        ``chunk_bytes / 4`` wait in between (the memory bound)."""
        items: queue.Queue[Any] = queue.Queue(maxsize=_PREFETCH)
        stop = threading.Event()

        def put(item: Any) -> bool:
            while not stop.is_set():
                try:
                    items.put(item, timeout=0.1)
                    return True
                except queue.Full:
                    continue
            return False

        def read() -> None:
            try:
                for batch in self._read_batches(query):
                    if not put(batch):
                        return  # the caller stopped early (its own error): drop the rest
                put(_DONE)
            except BaseException as exc:  # handed to the caller's thread, re-raised there
                put(_Failed(exc))

        reader = threading.Thread(target=read, name="neon-copy-reader", daemon=True)
        reader.start()

        def batches() -> Iterator[pa.RecordBatch]:
            while True:
                item = items.get()
                if item is _DONE:
                    return
                if isinstance(item, _Failed):
                    raise item.exc
                yield item

        try:
            yield batches()
        finally:
            stop.set()
            reader.join()

    def _read_batches(self, query: str) -> Iterator[pa.RecordBatch]:
        # The driver's low-level API, not its DB-API module: ``adbc_driver_manager.dbapi``
        # imports pyarrow.dataset and pandas (~0.3 s of CPU in every step process that reads
        # Neon, measured on 2 cores; nothing else of a step needs them).
        import adbc_driver_manager
        import adbc_driver_postgresql
        import pyarrow as pa

        try:
            with ExitStack() as stack:
                db = adbc_driver_postgresql.connect(self.adbc_uri())
                stack.callback(db.close)
                con = adbc_driver_manager.AdbcConnection(db)
                stack.callback(con.close)
                con.set_autocommit(False)  # the settings below and the COPY: one transaction
                stmt = adbc_driver_manager.AdbcStatement(con)
                stack.callback(stmt.close)
                for name, value in SESSION_SETTINGS.items():
                    stmt.set_sql_query(f"SELECT set_config('{name}', '{value}', true)")
                    stmt.execute_update()
                stmt.set_options(
                    **{"adbc.postgresql.batch_size_hint_bytes": str(max(1 << 16, self.chunk_bytes // 4))}
                )
                stmt.set_sql_query(query)
                handle, _rows = stmt.execute_query()
                reader = pa.RecordBatchReader._import_from_c(handle.address)
                stack.callback(reader.close)
                yield from reader
        except adbc_driver_manager.Error as exc:
            raise self._error(exc, "COPY from Neon") from None


# Batches read ahead of the writer (each about chunk_bytes / 4).
_PREFETCH = 2
_DONE = object()


@dataclass(frozen=True)
class _Failed:
    exc: BaseException
