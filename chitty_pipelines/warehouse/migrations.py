"""Versioned, idempotent schema migrations of the PostgreSQL warehouse, recorded in
``ops.schema_migrations``.

Every process that opens the warehouse calls ``migrate``; the first one applies what is missing
under a transaction-scoped advisory lock (so two workers starting together never both apply a
migration, and nothing stays locked if a process dies), the others find every version recorded.
A migration is a list of statements in the DuckDB dialect (transpiled like all other SQL) or
a function of the connection. New migrations are appended, never edited.

Platform tables (``raw_<platform>``) are not migrations: each stream creates its table with its
first write (``Transaction.ensure``), on both backends.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from chitty_pipelines.warehouse.ops_tables import OPS_TABLES
from chitty_pipelines.warehouse.tables import quote

# any fixed 64-bit number; shared by every chitty-pipelines process on this database
_LOCK_KEY = 0x43686974747953


def _ops_tables(con: Any, backend: Any) -> None:
    for schema in ("unified", "ops"):
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {quote(schema)}")
    for table in OPS_TABLES:
        backend.ensure(con, table)


def _op_store(con: Any, backend: Any) -> None:
    from chitty_pipelines.warehouse.opstore_pg import SCHEMA_SQL

    for statement in SCHEMA_SQL:
        con.raw.execute(statement)


MIGRATIONS: tuple[tuple[int, str, Callable[[Any, Any], None]], ...] = (
    (1, "ops tables: sync cursors, rejects, sync log", _ops_tables),
    (2, "op store: registered projects and sessions, api pacing", _op_store),
)

_done: set[str] = set()  # databases migrated by this process (no query per connection after)


def latest() -> int:
    return MIGRATIONS[-1][0]


def migrate(con: Any, backend: Any) -> list[int]:
    """Apply the missing migrations; returns the versions applied now (empty: up to date)."""
    if backend.location in _done:
        return []
    raw = con.raw
    raw.commit()  # the lock below must end with this migration's own transaction
    raw.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK_KEY])
    raw.execute("CREATE SCHEMA IF NOT EXISTS ops")
    raw.execute(
        "CREATE TABLE IF NOT EXISTS ops.schema_migrations "
        "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL)"
    )
    have = {r[0] for r in raw.execute("SELECT version FROM ops.schema_migrations").fetchall()}
    applied = []
    for version, name, step in MIGRATIONS:
        if version in have:
            continue
        step(con, backend)
        raw.execute(
            "INSERT INTO ops.schema_migrations VALUES (%s, %s, %s)", [version, name, datetime.now(UTC)]
        )
        applied.append(version)
    raw.commit()  # releases the advisory lock
    _done.add(backend.location)
    return applied


def forget() -> None:
    """Tests: a dropped and re-created database must be migrated again in this process."""
    _done.clear()
