"""The two warehouse backends behind one interface: embedded DuckDB (the default) and PostgreSQL
(``CHITTY_WAREHOUSE_URL``, e.g. Neon).

Callers never branch on the backend. They get a connection from ``Warehouse.connect()`` that
speaks DuckDB's Python API (``execute(sql, params)`` -> ``fetchone/fetchall/df/arrow``,
``register(name, arrow_table)``); on PostgreSQL ``PgConnection`` provides the same on top of
psycopg 3, with the DuckDB-dialect SQL transpiled once per statement (warehouse/dialect.py) and
registered Arrow tables loaded into a transaction-scoped temp table by binary COPY (pgpq encodes
Arrow to PostgreSQL's binary COPY format in C).

The few writes whose best form differs (upsert, bulk append) are methods of the backend.

PgBouncer in transaction mode (Neon's ``-pooler`` hosts) is respected: no prepared statements
(``prepare_threshold=None``), no session settings, temp tables ``ON COMMIT DROP``; every
connection is one transaction, committed or rolled back when the block ends.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_delay, wait_random_exponential

from chitty_pipelines.config import scrub
from chitty_pipelines.warehouse.tables import TableSpec, quote, validate_identifier

if TYPE_CHECKING:
    import duckdb
    import pandas as pd
    import psycopg
    import pyarrow as pa

log = logging.getLogger(__name__)
LOCK_NOTICE_S = 2.0  # a wait for another process's DuckDB lock is said once it lasts this long

URL_ENV = "CHITTY_WAREHOUSE_URL"


class WarehouseUnavailable(RuntimeError):
    """The PostgreSQL warehouse cannot be reached or refused us (message names the variable)."""


def describe_url(url: str) -> str:
    """``host:port/dbname`` of a PostgreSQL URL or key=value DSN: what the CLI may print (never
    the user or the password)."""
    try:
        from psycopg.conninfo import conninfo_to_dict

        params = conninfo_to_dict(url)
    except Exception:
        return "<unparsable CHITTY_WAREHOUSE_URL>"
    host = str(params.get("host") or params.get("hostaddr") or "localhost")
    port = f":{params['port']}" if params.get("port") else ""
    return f"{host}{port}/{params.get('dbname') or 'postgres'}"


# --- DuckDB ---------------------------------------------------------------------------------
def _is_lock_conflict(exc: BaseException) -> bool:
    import duckdb

    return isinstance(exc, duckdb.IOException) and "lock" in str(exc).lower()


class DuckDBBackend:
    """One DuckDB file. Short connections, a per-process lock, retries while another process
    holds the file's write lock (see warehouse/store.py)."""

    name = "duckdb"
    # One lock per file within a process: DuckDB shares one database instance per process, so
    # threads of the same process queue here instead of interleaving BEGIN/COMMIT on it.
    _process_locks: dict[str, threading.RLock] = {}

    def __init__(self, path: Path | str, lock_timeout_s: float = 600.0, memory_limit: str | None = None):
        self.path = Path(path)
        self.lock_timeout_s = lock_timeout_s
        self.memory_limit = memory_limit or None

    @property
    def location(self) -> str:
        return str(self.path)

    def _lock(self) -> threading.RLock:
        return self._process_locks.setdefault(str(self.path.resolve()), threading.RLock())

    def _config(self) -> dict[str, str]:
        if not self.memory_limit:
            return {}
        # With a budget set, DuckDB must be able to spill what does not fit: a temp folder next
        # to the warehouse file (the default, <file>.tmp, only exists for file databases anyway).
        return {"memory_limit": self.memory_limit, "temp_directory": f"{self.path}.tmp"}

    def _open(self) -> duckdb.DuckDBPyConnection:
        import duckdb

        self.path.parent.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        said = False

        def say_waiting(_state: RetryCallState) -> None:
            # A command waiting behind another (a sync, the UI's run) looked hung: said once.
            nonlocal said
            if not said and time.monotonic() - started >= LOCK_NOTICE_S:
                said = True
                log.warning(
                    "waiting for the warehouse lock on %s: another process is writing to it "
                    "(at most %.0fs, CHITTY_LOCK_TIMEOUT)",
                    self.path,
                    self.lock_timeout_s,
                )

        for attempt in Retrying(
            retry=retry_if_exception(_is_lock_conflict),
            wait=wait_random_exponential(multiplier=0.05, max=2.0),
            stop=stop_after_delay(self.lock_timeout_s),
            before_sleep=say_waiting,
            reraise=True,
        ):
            with attempt:
                con = duckdb.connect(str(self.path), config=self._config())
        waited = time.monotonic() - started
        if waited > 1:
            log.info("waited %.1fs for the warehouse lock on %s", waited, self.path)
        return con

    @contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        with self._lock():
            con = self._open()
            try:
                yield con
            finally:
                con.close()

    def create_sql(self, table: TableSpec) -> list[str]:
        return [table.create_sql()]

    def ensure(self, con: Any, table: TableSpec) -> list[str]:
        """Create the table, or add the columns its spec gained since it was created (returned)."""
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {quote(table.schema)}")
        con.execute(table.create_sql())
        return _add_missing_columns(self, con, table, "?", lambda t: t)

    def upsert(self, con: Any, table: TableSpec, batch: pa.Table) -> None:
        con.register("__batch", batch)
        try:
            _merge(con, table, "__batch")
        finally:
            con.unregister("__batch")

    def upsert_rows(self, con: Any, table: TableSpec, rows: Sequence[Mapping[str, Any]]) -> bool:
        """``upsert`` of a few Python rows (a sync log entry, cursors) without Arrow: pyarrow
        imports pandas on its first conversion of Python values (~0.15 s), a tenth of what a
        syncall with nothing to do spends of its own. Staged in a temporary table of the target's
        column types, so DuckDB casts the values as the Arrow path did."""
        names = ", ".join(quote(c) for c in table.column_names)
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE __rows AS SELECT {names}, 0::BIGINT AS __seq "
            f"FROM {table.sql_name} LIMIT 0"
        )
        try:
            marks = ", ".join("?" * (len(table.columns) + 1))
            staged = [[_bindable(row.get(c.name), c.type) for c in table.columns] for row in rows]
            for seq, values in enumerate(staged):
                values.append(seq)
            con.executemany(f"INSERT INTO __rows VALUES ({marks})", staged)
            _merge(con, table, "__rows")
        finally:
            con.execute("DROP TABLE IF EXISTS temp.__rows")
        return True

    def append(self, con: Any, table: TableSpec, rows: pa.Table) -> None:
        con.register("__append", rows)
        try:
            names = ", ".join(quote(c) for c in table.column_names)
            con.execute(f"INSERT INTO {table.sql_name} ({names}) SELECT {names} FROM __append")
        finally:
            con.unregister("__append")

    def append_columns(self, con: Any, table: TableSpec, rows: pa.Table) -> None:
        names = ", ".join(quote(c) for c in rows.column_names)
        con.register("__chunk", rows)
        try:
            con.execute(f"INSERT INTO {table.sql_name} ({names}) SELECT {names} FROM __chunk")
        finally:
            con.unregister("__chunk")

    def append_new(self, con: Any, table: TableSpec, rows: pa.Table, expected_rows: int) -> bool:
        # fetchall, not fetchone: DuckDB keeps a half-read result open on the connection otherwise
        ((count,),) = con.execute(f"SELECT count(*) FROM {table.sql_name}").fetchall()
        if int(count) != expected_rows:
            return False
        self.append_columns(con, table, rows)
        return True

    def begin_bulk_load(self, con: Any, table: TableSpec) -> None:
        """No key index to set aside on DuckDB: a first load appends chunk by chunk."""
        return None

    def end_bulk_load(self, con: Any, token: str) -> None:  # pragma: no cover - never begun
        raise NotImplementedError

    def existing_columns(self, con: Any, table: TableSpec) -> list[str]:
        return _existing_columns(con, table)


def _add_missing_columns(
    backend: Any, con: Any, table: TableSpec, placeholder: str, sql_type: Callable[[str], str]
) -> list[str]:
    """Add the columns ``table``'s spec has and its stored table lacks (once per backend object
    and column list); their names. ``sql_type`` turns a spec type into the backend's."""
    if _columns_checked(backend, table):
        return []
    added = _missing_columns(con, table, placeholder)
    for column in added:
        add = f"ADD COLUMN IF NOT EXISTS {quote(column.name)} {sql_type(column.type)}"
        con.execute(f"ALTER TABLE {table.sql_name} {add}")
    return [c.name for c in added]


def _columns_checked(backend: Any, table: TableSpec) -> bool:
    """True when ``table``'s columns were already compared with the database's, by this backend
    object (once per table and column list: the comparison is a catalog query)."""
    checked: set[tuple[str, tuple[str, ...]]] = backend.__dict__.setdefault("_columns_checked", set())
    mark = (table.sql_name, tuple(table.column_names))
    if mark in checked:
        return True
    checked.add(mark)
    return False


def _missing_columns(con: Any, table: TableSpec, placeholder: str) -> list[Any]:
    """The columns of ``table``'s spec that its stored table lacks. A table created by an older
    version lacks those added since (a platform's new project feed adds columns to
    unified.projects): they are added, empty, instead of every write failing on them."""
    found = con.execute(
        "SELECT column_name FROM information_schema.columns "
        f"WHERE table_schema = {placeholder} AND table_name = {placeholder}",
        [table.schema, table.name],
    ).fetchall()
    have = {r[0] for r in found}
    return [c for c in table.columns if c.name not in have]


def _merge(con: Any, table: TableSpec, source: str) -> None:
    """Replace the rows of ``table`` whose key is in ``source`` by ``source``'s (the last by
    ``__seq`` for a key): delete-then-insert, as the tables have no key constraint (tables.py)."""
    key = ", ".join(quote(k) for k in table.primary_key)
    match = " AND ".join(f"t.{quote(k)} IS NOT DISTINCT FROM b.{quote(k)}" for k in table.primary_key)
    con.execute(f"DELETE FROM {table.sql_name} AS t USING {source} AS b WHERE {match}")
    names = ", ".join(quote(c) for c in table.column_names)
    con.execute(
        f"INSERT INTO {table.sql_name} ({names}) SELECT {names} FROM {source} "
        f"QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY __seq DESC) = 1"
    )


def _on_conflict_action(table: TableSpec, names: Sequence[str]) -> str:
    """What ``INSERT ... ON CONFLICT (key)`` does with a stored key: take the new values of the
    other columns (nothing to take when every column is part of the key)."""
    rest = [n for n in names if n not in table.primary_key]
    if not rest:
        return "DO NOTHING"
    return "DO UPDATE SET " + ", ".join(f"{quote(n)} = EXCLUDED.{quote(n)}" for n in rest)


def _bindable(value: Any, column_type: str) -> Any:
    """Datetimes as the Arrow path reads them, whatever DuckDB's session time zone: a naive one
    is UTC, and a TIMESTAMP (without zone) column keeps the UTC wall time of an aware one."""
    if isinstance(value, datetime):
        if column_type == "TIMESTAMPTZ" and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        if column_type == "TIMESTAMP" and value.tzinfo is not None:
            return value.astimezone(UTC).replace(tzinfo=None)
    return value


# --- PostgreSQL -----------------------------------------------------------------------------
_PG_TYPES = {
    "VARCHAR": "TEXT",
    "JSON": "TEXT",
    "BIGINT": "BIGINT",
    "INTEGER": "INTEGER",
    "DOUBLE": "DOUBLE PRECISION",
    "BOOLEAN": "BOOLEAN",
    "TIMESTAMPTZ": "TIMESTAMPTZ",
    "TIMESTAMP": "TIMESTAMP",
    "DATE": "DATE",
    "VARCHAR[]": "TEXT[]",
    "BLOB": "BYTEA",
}


def pg_type(duck_type: str) -> str:
    decimal = re.fullmatch(r"DECIMAL\((\d+),\s*(\d+)\)", duck_type)
    if decimal:
        return f"NUMERIC({decimal.group(1)},{decimal.group(2)})"
    if duck_type in _PG_TYPES:
        return _PG_TYPES[duck_type]
    from sqlglot import exp

    return exp.DataType.build(duck_type, dialect="duckdb").sql(dialect="postgres")


def _arrow_pg_type(t: pa.DataType) -> str:
    import pyarrow as pa

    if isinstance(t, pa.BaseExtensionType):  # e.g. arrow.json from ADBC: its storage
        return _arrow_pg_type(t.storage_type)
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_null(t):
        return "TEXT"
    if pa.types.is_int64(t) or pa.types.is_uint32(t):
        return "BIGINT"
    if pa.types.is_integer(t):
        return "INTEGER"
    if pa.types.is_floating(t):
        return "DOUBLE PRECISION"
    if pa.types.is_boolean(t):
        return "BOOLEAN"
    if pa.types.is_timestamp(t):
        return "TIMESTAMPTZ" if t.tz else "TIMESTAMP"
    if pa.types.is_date(t):
        return "DATE"
    if pa.types.is_binary(t) or pa.types.is_large_binary(t):
        return "BYTEA"
    if pa.types.is_decimal(t):
        return f"NUMERIC({t.precision},{t.scale})"
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return _arrow_pg_type(t.value_type) + "[]"
    raise TypeError(f"no PostgreSQL type for Arrow {t}")


def _copyable(table: pa.Table) -> pa.Table:
    """Arrow types pgpq encodes: null columns become text, large/dictionary/unsigned narrowed."""
    import pyarrow as pa

    fields = []
    for f in table.schema:
        t = f.type
        if isinstance(t, pa.BaseExtensionType):
            t = t.storage_type
        if pa.types.is_null(t) or pa.types.is_large_string(t) or pa.types.is_dictionary(t):
            t = pa.string()
        elif pa.types.is_uint32(t) or pa.types.is_uint64(t):
            t = pa.int64()
        elif pa.types.is_uint8(t) or pa.types.is_uint16(t):
            t = pa.int32()
        elif pa.types.is_large_list(t) or (pa.types.is_list(t) and pa.types.is_large_string(t.value_type)):
            t = pa.list_(pa.string() if pa.types.is_large_string(t.value_type) else t.value_type)
        elif pa.types.is_timestamp(t) and t.unit != "us":
            t = pa.timestamp("us", tz=t.tz)
        elif pa.types.is_decimal(t) and t.precision > 38:
            t = pa.float64()
        fields.append(pa.field(f.name, t))
    schema = pa.schema(fields)
    if schema.equals(table.schema):
        return table
    columns = [
        (col.storage if isinstance(col.type, pa.BaseExtensionType) else col)
        if not isinstance(col, pa.ChunkedArray)
        else pa.chunked_array(
            [c.storage if isinstance(c.type, pa.BaseExtensionType) else c for c in col.chunks],
            type=col.type.storage_type if isinstance(col.type, pa.BaseExtensionType) else col.type,
        )
        for col in table.columns
    ]
    return pa.Table.from_arrays(columns, names=table.column_names).cast(schema)


def copy_arrow(cur: psycopg.Cursor, target_sql: str, names: Sequence[str], table: pa.Table) -> None:
    """Binary COPY of an Arrow table into ``target_sql`` (columns ``names``), in the cursor's
    transaction."""
    from pgpq import ArrowToPostgresBinaryEncoder

    table = _copyable(table)
    encoder = ArrowToPostgresBinaryEncoder(table.schema)
    columns = ", ".join(quote(n) for n in names)
    with cur.copy(f"COPY {target_sql} ({columns}) FROM STDIN (FORMAT BINARY)") as copy:
        copy.write(encoder.write_header())
        for batch in table.to_batches(max_chunksize=65536):
            copy.write(encoder.write_batch(batch))
        copy.write(encoder.finish())


class PgCursor:
    """The part of DuckDB's result API the project uses, over a psycopg cursor."""

    def __init__(self, cur: psycopg.Cursor | None):
        self._cur = cur

    @property
    def description(self) -> list[tuple[str, ...]] | None:
        if self._cur is None:
            return None
        if self._cur.description is None:
            return [("Count",)]  # DuckDB answers INSERT/UPDATE/DELETE with one row: the row count
        return [(c.name,) for c in self._cur.description]

    def _no_rows(self) -> bool:
        return self._cur is None or self._cur.description is None

    def _names(self) -> list[str]:
        return [d[0] for d in self.description or []]

    def fetchone(self) -> tuple[Any, ...] | None:
        if self._no_rows():
            rows = self.fetchall()
            return rows[0] if rows else None
        return self._cur.fetchone()

    def fetchall(self) -> list[tuple[Any, ...]]:
        if self._cur is None:
            return []
        if self._cur.description is None:
            rows, self._cur = [(max(self._cur.rowcount, 0),)], None  # once, like a result set
            return rows
        return self._cur.fetchall()

    def fetchmany(self, size: int = 1) -> list[tuple[Any, ...]]:
        if self._no_rows():
            return self.fetchall()[:size]
        return self._cur.fetchmany(size)

    def df(self) -> pd.DataFrame:
        import pandas as pd

        numeric = [
            c.type_code in _NUMERIC_OIDS for c in (self._cur.description or [])
        ] if self._cur is not None else []  # fmt: skip
        names = self._names()
        rows = self.fetchall()
        frame = pd.DataFrame.from_records(rows, columns=names) if rows else pd.DataFrame(columns=names)
        for i in range(len(frame.columns)):  # by position: result columns may share a name
            column = frame.iloc[:, i]
            if len(frame) and column.dtype == object and i < len(numeric) and numeric[i]:
                # as DuckDB's df(): numbers (Decimal sums too) with NaN for NULL, not objects
                frame.isetitem(i, pd.to_numeric(column.map(lambda v: None if v is None else float(v))))
        return frame

    def arrow(self) -> pa.Table:
        import pyarrow as pa

        names = self._names()
        rows = self.fetchall()
        return (
            pa.Table.from_pylist([dict(zip(names, r, strict=True)) for r in rows])
            if rows
            else pa.table({n: pa.array([], pa.null()) for n in names})
        )

    fetch_arrow_table = arrow

    def pl(self) -> Any:  # pragma: no cover - DuckDB parity
        raise NotImplementedError("polars results are not used with the PostgreSQL warehouse")


# float4, float8, numeric: floats with NaN for NULL, as DuckDB's df() gives them (integer
# columns keep None for NULL: callers turn them into Arrow int64 again)
_NUMERIC_OIDS = frozenset({700, 701, 1700})

_VERB = re.compile(r"^\s*(BEGIN(?:\s+TRANSACTION)?|COMMIT|ROLLBACK)\s*;?\s*$", re.IGNORECASE)


class PgConnection:
    """A psycopg connection that answers like a DuckDB connection (see the module docstring)."""

    def __init__(self, con: psycopg.Connection):
        self._con = con
        self._registered: set[str] = set()

    @property
    def raw(self) -> psycopg.Connection:
        return self._con

    def execute(self, sql: str, params: Sequence[Any] | Mapping[str, Any] | None = None) -> PgCursor:
        from chitty_pipelines.warehouse.dialect import to_postgres_statements

        verb = _VERB.match(sql)
        if verb:
            word = verb.group(1).split()[0].upper()
            if word == "COMMIT":
                self._con.commit()
            elif word == "ROLLBACK":
                self._con.rollback()
            # BEGIN: psycopg opens a transaction with the next statement anyway
            return PgCursor(None)
        if "EXCLUDE" in sql.upper():
            sql = self._expand_exclude(sql)
        cur = self._con.cursor()
        positional = 0
        for text, takes, has_params in to_postgres_statements(sql):
            if not has_params:
                cur.execute(text)
            elif isinstance(params, Mapping):
                cur.execute(text, _adapt(params))
            else:
                cur.execute(text, _adapt(list(params or [])[positional : positional + takes]))
                positional += takes
        return PgCursor(cur)

    def _expand_exclude(self, sql: str) -> str:
        """``SELECT * EXCLUDE (a, b) FROM t``: PostgreSQL has no such star, so the star becomes
        t's other columns, read from the catalog now (never cached: columns can be added)."""
        import sqlglot
        from sqlglot import exp

        try:
            tree = sqlglot.parse_one(sql, read="duckdb")
        except sqlglot.errors.ParseError:
            return sql
        for select in list(tree.find_all(exp.Select)):
            tables = [t for t in select.args.get("from_", select.args.get("from")).find_all(exp.Table)] if (
                select.args.get("from_") or select.args.get("from")) else []  # fmt: skip
            projections = []
            for p in select.expressions:
                dropped = {c.name for c in (p.args.get("except_") or p.args.get("except") or [])}
                if not (isinstance(p, exp.Star) and dropped and len(tables) == 1):
                    projections.append(p)
                    continue
                rows = self._con.execute(
                    "SELECT column_name FROM information_schema.columns WHERE table_schema = %s "
                    "AND table_name = %s ORDER BY ordinal_position",
                    [tables[0].db or "public", tables[0].name],
                ).fetchall()
                projections += [exp.column(r[0], quoted=True) for r in rows if r[0] not in dropped]
            select.set("expressions", projections)
        return tree.sql(dialect="duckdb")

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        from chitty_pipelines.warehouse.dialect import to_postgres

        with self._con.cursor() as cur:
            cur.executemany(to_postgres(sql), [_adapt(r) for r in rows])

    def sql(self, sql: str) -> PgCursor:
        return self.execute(sql)

    def register(self, name: str, table: Any) -> None:
        """``table`` (Arrow, or pandas) as a temp table ``name`` for this transaction."""
        import pyarrow as pa

        validate_identifier(name, "registered table")
        if not isinstance(table, pa.Table):
            table = pa.Table.from_pandas(table, preserve_index=False)
        table = _copyable(table)
        cols = ", ".join(f"{quote(f.name)} {_arrow_pg_type(f.type)}" for f in table.schema)
        with self._con.cursor() as cur:
            cur.execute(f"DROP TABLE IF EXISTS pg_temp.{quote(name)}")
            cur.execute(f"CREATE TEMP TABLE {quote(name)} ({cols}) ON COMMIT DROP")
            if table.num_rows:
                copy_arrow(cur, quote(name), table.schema.names, table)
            cur.execute(f"ANALYZE {quote(name)}")
        self._registered.add(name)

    def unregister(self, name: str) -> None:
        if name in self._registered:
            self._registered.discard(name)
            with self._con.cursor() as cur:
                cur.execute(f"DROP TABLE IF EXISTS pg_temp.{quote(name)}")

    def close(self) -> None:
        self._con.close()


def _adapt(params: Sequence[Any] | Mapping[str, Any]) -> Sequence[Any] | Mapping[str, Any]:
    """Python values as psycopg should send them: lists of text as ``text[]`` (DuckDB infers the
    list type; PostgreSQL cannot type ``unnest($1)`` from an untyped literal)."""
    if isinstance(params, Mapping):
        return {k: _value(v) for k, v in params.items()}
    return [_value(v) for v in params]


def _value(v: Any) -> Any:
    if isinstance(v, list | tuple) and not (v and isinstance(v[0], list | tuple)):
        from psycopg.types.json import Jsonb  # noqa: F401 - imported for the side effect: adapters

        if all(isinstance(x, str) or x is None for x in v):
            return _TextList(v)
        return list(v)
    return v


class _TextList(list):
    """A list sent as ``text[]`` (a dumper is registered for it on every connection)."""


def _register_adapters(con: psycopg.Connection) -> None:
    from psycopg.adapt import Dumper
    from psycopg.types.string import TextLoader

    text_array_oid = con.adapters.types["text"].array_oid

    class TextListDumper(Dumper):
        oid = text_array_oid

        def dump(self, obj: list[Any]) -> bytes:
            def one(x: Any) -> str:
                if x is None:
                    return "NULL"
                return '"' + str(x).replace("\\", "\\\\").replace('"', '\\"') + '"'

            return ("{" + ",".join(one(x) for x in obj) + "}").encode()

    con.adapters.register_dumper(_TextList, TextListDumper)
    # DuckDB returns JSON as text; so does the PostgreSQL warehouse (callers json.loads it)
    for name in ("json", "jsonb"):
        con.adapters.register_loader(name, TextLoader)


_CONNECT_ERRORS = ("OperationalError",)


class PostgresBackend:
    """A PostgreSQL database (Neon or any): one short transaction per ``connect()``."""

    name = "postgres"
    # Servers this process has reached once: a later connection error there is an outage (a
    # restart) and is retried; a server never reached is a configuration error and fails fast.
    _reached: set[str] = set()

    def __init__(self, url: str, connect_timeout_s: int = 10, retry_s: float = 90.0):
        self.url = url
        self.connect_timeout_s = connect_timeout_s
        self.retry_s = retry_s

    @property
    def location(self) -> str:
        return describe_url(self.url)

    def _connect_once(self) -> psycopg.Connection:
        import psycopg

        try:
            con = psycopg.connect(
                self.url,
                connect_timeout=self.connect_timeout_s,
                prepare_threshold=None,  # PgBouncer transaction mode: no prepared statements
                application_name="chitty-pipelines",
            )
        except psycopg.OperationalError as exc:
            raise WarehouseUnavailable(
                scrub(
                    f"cannot connect to the PostgreSQL warehouse {self.location} ({URL_ENV}): "
                    f"{_first_line(exc)}"
                )
            ) from None
        except psycopg.ProgrammingError as exc:  # not a connection string at all (foo://x, mysql://)
            reason = _first_line(exc)
            if '"' in reason.split(" option ")[0].split(" parameter")[0]:
                # e.g. `missing "=" after "<a piece of the string>"`: the piece may be a password's
                reason = "neither a postgresql:// URL nor key=value pairs"
            raise WarehouseUnavailable(
                f"{URL_ENV} is not a PostgreSQL connection string ({scrub(reason)}): use "
                "a postgresql://host:5432/dbname URL (user and password before the host) or key=value "
                "pairs, or unset it for DuckDB"
            ) from None
        _register_adapters(con)
        return con

    def open(self) -> psycopg.Connection:
        """Connect, retrying while the server is starting up or restarting (a restart mid-run is
        a short outage); a wrong password, host name or database fails at once."""
        deadline = time.monotonic() + self.retry_s
        delay = 0.2
        while True:
            try:
                con = self._connect_once()
                self._reached.add(self.location)
                return con
            except WarehouseUnavailable as exc:
                known = self.location in self._reached
                if known and time.monotonic() > deadline:
                    # Down for longer than a restart: later connections of this process fail at
                    # once (until one succeeds again) instead of each waiting retry_s anew. A
                    # syncall with the server gone waited 90 s per connection, 6 min in all,
                    # printing nothing.
                    self._reached.discard(self.location)
                if not known or not _transient(str(exc)) or time.monotonic() > deadline:
                    raise
                log.info("warehouse not reachable yet, retrying: %s", exc)
                time.sleep(delay)
                delay = min(delay * 2, 3.0)

    @contextmanager
    def connect(self) -> Iterator[PgConnection]:
        import psycopg

        con = PgConnection(self.open())
        try:
            yield con
            if not con.raw.closed:
                con.raw.commit()
        except BaseException as exc:
            if not con.raw.closed:
                with suppress(Exception):
                    con.raw.rollback()
            if isinstance(exc, psycopg.OperationalError) and (con.raw.broken or con.raw.closed):
                # The server went away mid-transaction. psycopg says only "the connection is
                # lost", which named neither the warehouse nor what to do (seen as a step's and
                # syncall's last line). The original text stays in the message, so is_disconnect
                # still recognises a restart.
                raise _connection_lost()(
                    scrub(
                        f"lost the connection to the PostgreSQL warehouse {self.location} "
                        f"({URL_ENV}) in the middle of a transaction, which was rolled back (nothing "
                        f"half-written; run the sync again once the server is back): {_first_line(exc)}"
                    )
                ) from exc
            raise
        finally:
            con.close()

    def create_sql(self, table: TableSpec) -> list[str]:
        cols = ", ".join(f"{quote(c.name)} {pg_type(c.type)}" for c in table.columns)
        key = ", ".join(quote(k) for k in table.primary_key)
        index = quote(_index_name(table))
        # A unique index, not a PRIMARY KEY: keys may hold NULL (as on DuckDB), and NULLS NOT
        # DISTINCT (PostgreSQL 15+) makes ON CONFLICT treat two NULL keys as the same row.
        return [
            f"CREATE TABLE IF NOT EXISTS {table.sql_name} ({cols})",
            f"CREATE UNIQUE INDEX IF NOT EXISTS {index} ON {table.sql_name} ({key}) NULLS NOT DISTINCT",
        ]

    def ensure(self, con: PgConnection, table: TableSpec) -> list[str]:
        """Create the table, or add the columns its spec gained since it was created (returned)."""
        # native PostgreSQL DDL: run as written, not transpiled
        import psycopg

        index = f"{quote(table.schema)}.{quote(_index_name(table))}"
        with con.raw.cursor() as cur:
            if cur.execute("SELECT to_regclass(%s) IS NOT NULL", [index]).fetchone()[0]:
                return _add_missing_columns(self, cur, table, "%s", pg_type)
            # CREATE ... IF NOT EXISTS is not safe against a concurrent CREATE of the same name
            # (a unique violation in the catalog): creators of one schema queue on a lock that
            # ends with their transaction. Only the first write of a table ever gets here.
            cur.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [f"ddl:{table.schema}"])
            # The to_regclass above cached "no such schema" in this backend, and an advisory lock
            # does not make PostgreSQL read the catalog changes it waited for: the schema another
            # creator committed meanwhile can still look absent to CREATE SCHEMA IF NOT EXISTS,
            # whose insert then hits the catalog's unique index. Under a savepoint, that error
            # means "it exists"; the CREATE TABLE statements take a lock that refreshes the cache.
            cur.execute("SAVEPOINT chitty_schema")
            try:
                cur.execute(f"CREATE SCHEMA IF NOT EXISTS {quote(table.schema)}")
            except psycopg.errors.UniqueViolation:
                cur.execute("ROLLBACK TO SAVEPOINT chitty_schema")
            cur.execute("RELEASE SAVEPOINT chitty_schema")
            for statement in self.create_sql(table):
                cur.execute(statement)
        return []

    def upsert(self, con: PgConnection, table: TableSpec, batch: pa.Table) -> None:
        """COPY into a staging temp table, then one INSERT ... ON CONFLICT (key) DO UPDATE; the
        last row of a key within the batch wins (DISTINCT ON ... ORDER BY __seq DESC)."""
        stage = "__stage"
        names = table.column_names
        con.register(stage, batch)
        try:
            self._insert_from(con, table, stage, names, dedupe=True)
        finally:
            con.unregister(stage)

    def upsert_rows(self, con: PgConnection, table: TableSpec, rows: Sequence[Mapping[str, Any]]) -> bool:
        """A few Python rows of plain values as one ``INSERT ... VALUES ... ON CONFLICT``, the last
        row of a key winning as in ``upsert``. False, with nothing written, when a value is not
        plain (``upsert`` through Arrow then converts it as it always did) or the rows are many."""
        names = table.column_names
        if len(rows) * len(names) > _MAX_VALUES:
            return False
        types = {c.name: pg_type(c.type) for c in table.columns}
        at = [names.index(k) for k in table.primary_key]
        last: dict[tuple[Any, ...], list[Any]] = {}
        for row in rows:
            values = [_plain(row.get(n), types[n]) for n in names]
            if any(v is _NOT_PLAIN for v in values):
                return False
            key = tuple(tuple(v) if isinstance(v, list) else v for v in (values[i] for i in at))
            last.pop(key, None)  # the last row of a key wins, in its own place
            last[key] = values
        one = "(" + ", ".join(f"CAST(%s AS {types[n]})" for n in names) + ")"
        action = _on_conflict_action(table, names)
        with con.raw.cursor() as cur:
            cur.execute(
                f"INSERT INTO {table.sql_name} ({', '.join(quote(n) for n in names)}) "
                f"VALUES {', '.join([one] * len(last))} "
                f"ON CONFLICT ({', '.join(quote(k) for k in table.primary_key)}) {action}",
                _adapt([v for values in last.values() for v in values]),
            )
        return True

    def _insert_from(
        self, con: PgConnection, table: TableSpec, source: str, names: list[str], *, dedupe: bool
    ) -> None:
        types = {c.name: pg_type(c.type) for c in table.columns}
        cols = ", ".join(quote(n) for n in names)
        select = ", ".join(f"CAST({quote(n)} AS {types[n]}) AS {quote(n)}" for n in names)
        key = ", ".join(quote(k) for k in table.primary_key)
        if dedupe:
            body = f"SELECT DISTINCT ON ({key}) {select} FROM {quote(source)} ORDER BY {key}, __seq DESC"
        else:
            body = f"SELECT {select} FROM {quote(source)}"
        action = _on_conflict_action(table, names)
        with con.raw.cursor() as cur:
            cur.execute(
                f"INSERT INTO {table.sql_name} ({cols}) SELECT * FROM ({body}) AS s "
                f"ON CONFLICT ({key}) {action}"
            )

    def append(self, con: PgConnection, table: TableSpec, rows: pa.Table) -> None:
        """Binary COPY into the table (the caller deleted what these rows replace)."""
        self.append_columns(con, table, rows.select(table.column_names))

    def append_columns(self, con: PgConnection, table: TableSpec, rows: pa.Table) -> None:
        """Binary COPY straight into the table when the Arrow types are (or cast to) the table's;
        else through a staging table and INSERT ... SELECT CAST (PostgreSQL converts)."""
        import pyarrow as pa

        try:
            declared = {c.name: c.arrow_type() for c in table.columns}
            wanted = pa.schema([pa.field(n, declared[n]) for n in rows.column_names])
            typed = rows if rows.schema.equals(wanted) else rows.cast(wanted)
        except (KeyError, ValueError, TypeError, pa.ArrowInvalid, pa.ArrowNotImplementedError):
            typed = None
        if typed is not None:
            with con.raw.cursor() as cur:
                copy_arrow(cur, table.sql_name, typed.column_names, typed)
            return
        con.register("__chunk", rows)
        try:
            types = {c.name: pg_type(c.type) for c in table.columns}
            names = ", ".join(quote(n) for n in rows.column_names)
            select = ", ".join(f"CAST({quote(n)} AS {types[n]})" for n in rows.column_names)
            with con.raw.cursor() as cur:
                cur.execute(f"INSERT INTO {table.sql_name} ({names}) SELECT {select} FROM {quote('__chunk')}")
        finally:
            con.unregister("__chunk")

    def append_new(self, con: PgConnection, table: TableSpec, rows: pa.Table, expected_rows: int) -> bool:
        """COPY under a savepoint: the table's unique key index refuses a key it already holds
        (``expected_rows`` is not needed), and rolling back to the savepoint undoes the partial
        COPY while the caller's transaction stays usable."""
        import psycopg

        with con.raw.cursor() as cur:
            cur.execute("SAVEPOINT chitty_append")
            try:
                self.append_columns(con, table, rows)
            except psycopg.errors.UniqueViolation:
                cur.execute("ROLLBACK TO SAVEPOINT chitty_append")
                return False
            cur.execute("RELEASE SAVEPOINT chitty_append")
        return True

    def begin_bulk_load(self, con: PgConnection, table: TableSpec) -> str | None:
        """Set the unique key index aside for a first load into an empty table, in the caller's
        transaction: the index's definition (to hand to ``end_bulk_load``), or None, with
        nothing changed, when the table holds rows or has no key index.

        Maintaining the index row by row was ~0.2-0.3 s of the server's ~1.5 s for 1M rows;
        building it once after the load costs less. ``DROP INDEX`` holds an ACCESS EXCLUSIVE
        lock until the transaction ends, so readers and other writers wait instead of seeing
        the table without its key, and a rollback (a crash, a duplicate key) restores it."""
        index = f"{quote(table.schema)}.{quote(_index_name(table))}"
        empty = f"SELECT NOT EXISTS (SELECT 1 FROM {table.sql_name})"
        with con.raw.cursor() as cur:
            # Looked at without the lock first: a table with rows (every later sync) is never
            # locked; checked again under the lock, a concurrent first writer may have won.
            if not cur.execute(empty).fetchone()[0]:
                return None
            cur.execute(f"LOCK TABLE {table.sql_name} IN ACCESS EXCLUSIVE MODE")
            row = cur.execute(
                "SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i "
                "WHERE i.indexrelid = to_regclass(%s) AND i.indrelid = to_regclass(%s) AND i.indisunique",
                [index, table.sql_name],
            ).fetchone()
            if row is None or not cur.execute(empty).fetchone()[0]:
                return None
            cur.execute(f"DROP INDEX {index}")
        return str(row[0])

    def end_bulk_load(self, con: PgConnection, token: str) -> None:
        """Build the key index ``begin_bulk_load`` set aside, as it was (same name, same
        definition). A key loaded twice raises ``psycopg.errors.UniqueViolation``: the caller
        rolls the transaction back (the index and the empty table come back)."""
        with con.raw.cursor() as cur:
            cur.execute(token)

    def existing_columns(self, con: PgConnection, table: TableSpec) -> list[str]:
        return _existing_columns(con, table)


# Bind parameters of one INSERT ... VALUES at most (the protocol's limit is 65,535).
_MAX_VALUES = 20_000
_NOT_PLAIN = object()
# What each column type takes as it is: the Python types Arrow takes for that column in
# ``_to_arrow`` and converts to the same value (anything else goes the Arrow way, as before).
_PLAIN: dict[str, tuple[type, ...]] = {
    "TEXT": (str,),
    "BIGINT": (int,),
    "INTEGER": (int,),
    "DOUBLE PRECISION": (float, int),
    "BOOLEAN": (bool,),
    "BYTEA": (bytes,),
    "DATE": (date,),
}


def _plain(value: Any, pg: str) -> Any:
    """``value`` as sent for a column of PostgreSQL type ``pg``, or ``_NOT_PLAIN``. Times mean
    what Arrow makes them mean (a naive time in a TIMESTAMPTZ column is UTC; an aware one in a
    TIMESTAMP column is its UTC wall time), never the session's time zone."""
    if value is None:
        return None
    kind = type(value)  # exact: bool is no int here, pandas' Timestamp no datetime
    if pg in ("TIMESTAMPTZ", "TIMESTAMP"):
        if kind is not datetime:
            return _NOT_PLAIN
        if pg == "TIMESTAMPTZ" and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        if pg == "TIMESTAMP" and value.tzinfo is not None:
            return value.astimezone(UTC).replace(tzinfo=None)
        return value
    if pg == "TEXT[]":
        if kind in (list, tuple) and all(type(x) is str or x is None for x in value):
            return list(value)
        return _NOT_PLAIN
    if pg.startswith("NUMERIC("):
        return value if kind is Decimal else _NOT_PLAIN
    return value if kind in _PLAIN.get(pg, ()) else _NOT_PLAIN


def _index_name(table: TableSpec) -> str:
    return f"{table.name}_pk"[:63]


def _connection_lost() -> type[WarehouseUnavailable]:
    """WarehouseUnavailable that is also a psycopg.OperationalError: what callers caught for a
    connection lost mid-transaction before it named the warehouse still catches it."""
    global _ConnectionLost
    if _ConnectionLost is None:
        import psycopg

        class WarehouseConnectionLost(WarehouseUnavailable, psycopg.OperationalError):
            pass

        _ConnectionLost = WarehouseConnectionLost
    return _ConnectionLost


_ConnectionLost: type[WarehouseUnavailable] | None = None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# Messages of a server that is down, starting or shutting down (retried); anything else (auth,
# unknown host, missing database) is a configuration error and fails at once.
_TRANSIENT = re.compile(
    r"connection refused|the database system is (starting up|shutting down|in recovery)|"
    r"server closed the connection|terminating connection|could not receive data|"
    r"connection to server .* failed: (Connection refused|server closed)|timeout expired",
    re.IGNORECASE,
)


def _transient(message: str) -> bool:
    return bool(_TRANSIENT.search(message)) and "password" not in message.lower()


def is_disconnect(exc: BaseException) -> bool:
    """A PostgreSQL connection lost mid-transaction (server restart, admin shutdown)."""
    try:
        import psycopg
    except ImportError:  # pragma: no cover
        return False
    if isinstance(exc, WarehouseUnavailable):
        return _transient(str(exc))
    if isinstance(exc, psycopg.errors.AdminShutdown | psycopg.errors.CannotConnectNow):
        return True
    return isinstance(exc, psycopg.OperationalError) and bool(_TRANSIENT.search(str(exc)))


Backend = DuckDBBackend | PostgresBackend


def _existing_columns(con: Any, table: TableSpec) -> list[str]:
    """The table's columns in order: the same information_schema query on both backends (the
    PostgreSQL connection takes DuckDB's ``?`` placeholders)."""
    return [
        r[0]
        for r in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = ? "
            "AND table_name = ? ORDER BY ordinal_position",
            [table.schema, table.name],
        ).fetchall()
    ]
