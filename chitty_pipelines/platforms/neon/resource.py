"""Neon (PostgreSQL) on psycopg 3: connecting, the catalog, and streaming ``COPY ... TO STDOUT``.

The DSN comes from ``NEON_DATABASE_URL`` as a Dagster ``EnvVar``. Use the *direct* host
(``ep-xxx.region.aws.neon.tech``): the ``-pooler`` host is PgBouncer in transaction mode, which
serves many short connections well but is the wrong place for a long COPY. Everything here works
through the pooler too (settings are ``SET LOCAL``, one transaction per extract), just slower.

Secrets: the DSN's password never leaves this module. Errors are re-raised as ``NeonError`` with
the password and DSN scrubbed and without the original exception chained.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import quote

import dagster as dg
from pydantic import Field

from chitty_pipelines import config
from chitty_pipelines.platforms.neon.pg_types import SESSION_SETTINGS, PgColumn

if TYPE_CHECKING:
    # psycopg is imported where used: loading the code location does not pay for it.
    import psycopg
    from psycopg import sql

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
    chunk_rows: int = Field(default=50_000, description="Rows per chunk written to the warehouse.")
    chunk_bytes: int = Field(default=64 << 20, description="Bytes of COPY text per chunk (memory bound).")
    lookback_seconds: float = Field(
        default=600.0, description="Default overlap re-read below a stream's high-water mark."
    )
    application_name: str = Field(default="chitty-pipelines")

    @classmethod
    def from_settings(cls) -> NeonResource:
        return cls(
            database_url=config.secret(DSN_VAR),  # type: ignore[arg-type]  # EnvVar resolves at run time
            chunk_rows=int(config.env("NEON_CHUNK_ROWS") or 50_000),
            lookback_seconds=float(config.env("NEON_LOOKBACK_SECONDS") or 600),
        )

    @property
    def dsn(self) -> str | None:
        """The DSN. Inside a run Dagster has already resolved the EnvVar; outside one (the
        ``chitty-sync status`` health probe) it is resolved here."""
        value = self.database_url
        if isinstance(value, dg.EnvVar):
            return value.get_value()
        return value or None

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
        if isinstance(exc, psycopg.OperationalError) and "authentication" in message.lower():
            return NeonAuthError(f"{doing}: authentication failed; fix {DSN_VAR} ({message})")
        return NeonError(f"{doing}: {type(exc).__name__}: {message}")

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
                )
                break
            except psycopg.Error as exc:
                err = self._error(exc, "connecting to Neon")
                if isinstance(err, NeonAuthError) or attempt == 2:
                    raise err from None
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
    def set_local_settings(self, con: psycopg.Connection) -> None:
        """Transaction-scoped output settings (valid behind the transaction pooler too)."""
        for name, value in SESSION_SETTINGS.items():
            con.execute("SELECT set_config(%s, %s, true)", [name, value])

    def copy_csv_chunks(self, con: psycopg.Connection, query: sql.Composable) -> Iterator[tuple[bytes, int]]:
        """Stream ``COPY (query) TO STDOUT (FORMAT csv)`` as (csv bytes, rows) chunks of at most
        ``chunk_rows`` rows or about ``chunk_bytes`` bytes. PostgreSQL sends one CopyData message
        per row, so every chunk ends on a row boundary. Memory stays at one chunk."""
        import psycopg
        from psycopg import sql

        statement = sql.SQL("COPY ({}) TO STDOUT (FORMAT csv)").format(query)
        try:
            with con.cursor() as cur, cur.copy(statement) as copy:
                parts: list[bytes] = []
                size = 0
                while data := copy.read():
                    parts.append(bytes(data))
                    size += len(data)
                    if len(parts) >= self.chunk_rows or size >= self.chunk_bytes:
                        yield b"".join(parts), len(parts)
                        parts, size = [], 0
                if parts:
                    yield b"".join(parts), len(parts)
        except psycopg.Error as exc:
            raise self._error(exc, "COPY from Neon") from None
