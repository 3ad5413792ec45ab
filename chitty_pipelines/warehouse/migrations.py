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


# DuckDB functions the transpiled SQL calls as ops.<name> (warehouse/dialect.py)
_FUNCTIONS: tuple[str, ...] = (
    "CREATE OR REPLACE FUNCTION ops._first_step(anyelement, anyelement) RETURNS anyelement "
    "LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS 'SELECT $1'",
    "CREATE OR REPLACE FUNCTION ops._last_step(anyelement, anyelement) RETURNS anyelement "
    "LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS 'SELECT $2'",
    "CREATE OR REPLACE AGGREGATE ops.first(anyelement) (SFUNC = ops._first_step, STYPE = anyelement)",
    "CREATE OR REPLACE AGGREGATE ops.last(anyelement) (SFUNC = ops._last_step, STYPE = anyelement)",
    # DuckDB's len() takes a string or a list
    "CREATE OR REPLACE FUNCTION ops.len(text) RETURNS integer LANGUAGE sql IMMUTABLE AS 'SELECT length($1)'",
    "CREATE OR REPLACE FUNCTION ops.len(anyarray) RETURNS integer LANGUAGE sql IMMUTABLE "
    "AS 'SELECT cardinality($1)'",
    "CREATE OR REPLACE FUNCTION ops.list_sort(anyarray) RETURNS anyarray LANGUAGE sql IMMUTABLE "
    "AS 'SELECT CASE WHEN $1 IS NULL THEN NULL ELSE "
    "coalesce((SELECT array_agg(v ORDER BY v) FROM unnest($1) AS u(v)), $1[0:-1]) END'",
    """CREATE OR REPLACE FUNCTION ops.json_valid(text) RETURNS boolean LANGUAGE plpgsql IMMUTABLE AS $$
    BEGIN
        IF $1 IS NULL THEN RETURN NULL; END IF;
        PERFORM $1::json;
        RETURN true;
    EXCEPTION WHEN others THEN
        RETURN false;
    END $$""",
    # DuckDB's json_type names (callers compare with them)
    """CREATE OR REPLACE FUNCTION ops.json_type(j json) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE json_typeof(j)
        WHEN 'object' THEN 'OBJECT' WHEN 'array' THEN 'ARRAY' WHEN 'string' THEN 'VARCHAR'
        WHEN 'boolean' THEN 'BOOLEAN' WHEN 'null' THEN 'NULL'
        WHEN 'number' THEN CASE WHEN j::text ~ '^-?[0-9]+$' THEN 'BIGINT' ELSE 'DOUBLE' END
    END $$""",
    "CREATE OR REPLACE FUNCTION ops.json_type(j text) RETURNS text LANGUAGE sql IMMUTABLE "
    "AS 'SELECT ops.json_type(j::json)'",
)


# DuckDB's JSON path functions ('$', '$.a.b', '$.a[*]'), taking JSON as text
_JSON_FUNCTIONS: tuple[str, ...] = (
    "CREATE OR REPLACE FUNCTION ops._json_keys(path text) RETURNS text[] LANGUAGE sql IMMUTABLE AS $$ "
    "SELECT CASE WHEN path IN ('$', '') THEN '{}'::text[] "
    "ELSE string_to_array("
    "regexp_replace(regexp_replace(path, '\\[\\*\\]$', ''), '^\\$\\.?', ''), '.') END $$",
    "CREATE OR REPLACE FUNCTION ops.json_extract(doc text, path text) RETURNS json LANGUAGE sql IMMUTABLE "
    "AS $$ SELECT (doc::json) #> ops._json_keys(path) $$",
    "CREATE OR REPLACE FUNCTION ops.json_extract_string(doc text, path text) RETURNS text LANGUAGE sql "
    "IMMUTABLE AS $$ SELECT (doc::json) #>> ops._json_keys(path) $$",
    "CREATE OR REPLACE FUNCTION ops.json_extract_list(doc text, path text) RETURNS json[] LANGUAGE sql "
    "IMMUTABLE AS $$ SELECT CASE WHEN json_typeof((doc::json) #> ops._json_keys(path)) = 'array' "
    "THEN ARRAY(SELECT json_array_elements((doc::json) #> ops._json_keys(path))) END $$",
    """CREATE OR REPLACE FUNCTION ops.try_json(text) RETURNS json LANGUAGE plpgsql IMMUTABLE AS $$
    BEGIN RETURN $1::json; EXCEPTION WHEN others THEN RETURN NULL; END $$""",
    """CREATE OR REPLACE FUNCTION ops.try_timestamptz(text) RETURNS timestamptz LANGUAGE plpgsql STABLE AS $$
    BEGIN RETURN $1::timestamptz; EXCEPTION WHEN others THEN RETURN NULL; END $$""",
    "CREATE OR REPLACE FUNCTION ops.make_timestamptz(micros bigint) RETURNS timestamptz LANGUAGE sql "
    "IMMUTABLE AS $$ SELECT to_timestamp(micros / 1000000.0) $$",
)


def _json_functions(con: Any, backend: Any) -> None:
    for statement in _JSON_FUNCTIONS:
        con.raw.execute(statement)


def _functions(con: Any, backend: Any) -> None:
    for statement in _FUNCTIONS:
        con.raw.execute(statement)


def _session_ids(con: Any, backend: Any) -> None:
    from chitty_pipelines.warehouse.opstore_pg import SESSIONS

    for column in ("chitty_id", "id_source"):
        con.raw.execute(f"ALTER TABLE {SESSIONS} ADD COLUMN IF NOT EXISTS {column} TEXT")


def _hub(con: Any, backend: Any) -> None:
    from chitty_pipelines.warehouse.opstore_pg import HUB_SCHEMA_SQL

    for statement in HUB_SCHEMA_SQL:
        con.raw.execute(statement)


def _conversation_source(con: Any, backend: Any) -> None:
    con.raw.execute("ALTER TABLE ops.topic_conversations ADD COLUMN IF NOT EXISTS categorized_by TEXT")


MIGRATIONS: tuple[tuple[int, str, Callable[[Any, Any], None]], ...] = (
    (1, "ops tables: sync cursors, rejects, sync log", _ops_tables),
    (2, "op store: registered projects and sessions, api pacing", _op_store),
    (3, "DuckDB functions: first/last aggregates, len, list_sort, json_valid, json_type", _functions),
    (4, "DuckDB JSON functions: json_extract(_string/_list), try_json, try_timestamptz", _json_functions),
    (5, "op store: a registered session's ChittyID and where it came from", _session_ids),
    (6, "hub store: write counter, API tokens, todo lists, topic conversations, API runs", _hub),
    (7, "hub store: who categorised a filed conversation (client or server)", _conversation_source),
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
    if _up_to_date(raw):
        # nothing to apply, so no DDL: a read-only role (an analyst's, for `chitty-sync sql`
        # and `status`) may open a warehouse it cannot CREATE in
        _done.add(backend.location)
        return []
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


def _up_to_date(raw: Any) -> bool:
    """Every migration is recorded already (read without a lock: versions are only added)."""
    try:
        if raw.execute("SELECT to_regclass('ops.schema_migrations')").fetchone()[0] is None:
            return False
        have = {r[0] for r in raw.execute("SELECT version FROM ops.schema_migrations").fetchall()}
    except Exception:  # e.g. no SELECT on it: the locked path below applies or fails as before
        raw.rollback()
        return False
    finally:
        if raw.info.transaction_status:  # end the read, so the lock below opens its own transaction
            raw.commit()
    return all(version in have for version, _, _ in MIGRATIONS)


def forget() -> None:
    """Tests: a dropped and re-created database must be migrated again in this process."""
    _done.clear()
