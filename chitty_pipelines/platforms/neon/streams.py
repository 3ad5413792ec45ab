"""How one Neon stream lands in the warehouse: resolve it against the catalog, read it as
``COPY (SELECT ...) TO STDOUT (FORMAT BINARY)`` into Arrow (adbc-driver-postgresql), cut the
batches into chunks, convert where needed, and write each chunk with one DuckDB statement.

Two write modes:

* incremental (every stream; what syncall and its schedule run): ``cursor >= high_water -
  lookback`` ordered by (cursor, key), so the first run reads the whole table and later runs the
  new rows plus the look-back for late commits. Every chunk commits its rows *and* the advanced
  high-water mark in one warehouse transaction, so a crash between chunks resumes where the last
  chunk committed (the look-back and upserts by key make the overlap harmless). Into an empty
  warehouse table, with the source's own PRIMARY KEY as the key, chunks are plain appends (no
  key can repeat within one COPY snapshot): that is the first, whole-history sync. On
  PostgreSQL, when the first chunk's keys are not in cursor order, its first
  ``bulk_load_rows`` rows go in one transaction with the key index rebuilt at the end
  (``_bulk_load``);
* windowed (the ``<stream>_by_day`` assets of daily-partitioned streams; ``chitty-sync
  backfill --from --to``): per day of the run's window, one transaction deletes the day's rows
  and merges what PostgreSQL has for it now, reading from ``start - lookback`` on the first day
  so late commits just before the window are kept too. A window never moves the incremental
  high-water mark (a re-sync of old days must not make the cursor skip the days in between).
"""

from __future__ import annotations

import itertools
import json
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack, closing, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from chitty_pipelines.kernel.assets import StreamStats
from chitty_pipelines.platforms.neon.pg_types import (
    CURSOR_CASTS,
    TIME_CURSORS,
    PgColumn,
    cast_expr,
    duck_type,
    select_expr,
)
from chitty_pipelines.platforms.neon.resource import NeonError, NeonResource, TableInfo
from chitty_pipelines.platforms.neon.stream_config import CURSOR_CANDIDATES, StreamSpec
from chitty_pipelines.warehouse import (
    Column,
    InvalidIdentifier,
    Reject,
    TableSpec,
    Warehouse,
    quote,
    validate_identifier,
)

if TYPE_CHECKING:
    # Imported where used: loading the code location (every step process does) stays cheap.
    import psycopg
    import pyarrow as pa
    from psycopg import sql

    from chitty_pipelines.warehouse.store import Transaction

log = logging.getLogger(__name__)

PLATFORM = "neon"
SCHEMA = "raw_neon"


class StreamConfigError(NeonError):
    """The stream's configuration does not fit the table (bad cursor, no key): that stream only."""


@dataclass(frozen=True)
class Resolved:
    spec: StreamSpec
    columns: tuple[PgColumn, ...]
    skipped: tuple[str, ...]  # source columns whose names are not plain identifiers
    cursor: PgColumn | None
    primary_key: tuple[str, ...]
    lookback_s: float
    table: TableSpec
    # The key is the source's PRIMARY KEY constraint: no key repeats within one COPY snapshot.
    key_enforced: bool = False

    @property
    def cursor_is_time(self) -> bool:
        return self.cursor is not None and self.cursor.typname in TIME_CURSORS


def resolve(spec: StreamSpec, info: TableInfo, default_lookback_s: float) -> Resolved:
    columns, skipped = [], []
    for col in info.columns:
        try:
            validate_identifier(col.name, "column")
            columns.append(col)
        except InvalidIdentifier:
            skipped.append(col.name)
    names = {c.name for c in columns}
    cursor_name = spec.cursor or next((c for c in CURSOR_CANDIDATES if c in names), None)
    cursor = info.column(cursor_name) if cursor_name else None
    if cursor_name and cursor is None:
        raise StreamConfigError(f"stream {spec.name}: cursor column {cursor_name!r} not in {spec.qualified}")
    if cursor is not None and (cursor.is_array or cursor.typname not in CURSOR_CASTS):
        raise StreamConfigError(
            f"stream {spec.name}: cursor {cursor.name} has type {cursor.formatted}; use a timestamp, "
            "date or integer column"
        )
    pk = spec.primary_key or info.primary_key or spec.fallback_primary_key
    if not pk or any(k not in names for k in pk):
        raise StreamConfigError(
            f"stream {spec.name}: no usable primary key for {spec.qualified} "
            "(set primary_key in NEON_STREAMS)"
        )
    table = TableSpec(
        SCHEMA,
        spec.name,
        tuple(Column(c.name, duck_type(c), f"{c.formatted} in {spec.qualified}") for c in columns),
        tuple(pk),
        spec.description,
    )
    lookback = spec.lookback_seconds if spec.lookback_seconds is not None else default_lookback_s
    enforced = bool(info.primary_key) and tuple(pk) == tuple(info.primary_key)
    return Resolved(spec, tuple(columns), tuple(skipped), cursor, tuple(pk), lookback, table, enforced)


class ChunkConverter:
    """One chunk of Arrow from the driver -> the warehouse types, plus its rejects and its largest
    cursor value.

    Most columns arrive as the Arrow type of their warehouse column and go in untouched. Columns
    whose conversion can fail (numeric text -> DECIMAL) go through one vectorized in-memory
    DuckDB query, where a value that does not convert (numeric 'NaN' into DECIMAL, say) turns
    its row into a reject instead of failing the sync."""

    def __init__(self, r: Resolved):
        self.r = r
        casts, checks = [], []
        for c in r.columns:
            q = quote(c.name)
            expr = cast_expr(c, f"__raw.{q}")
            casts.append(f"{expr} AS {q}")
            if expr != f"__raw.{q}":
                checks.append(f"CASE WHEN __raw.{q} IS NOT NULL AND {expr} IS NULL THEN '{c.name}' END")
        self.sql = f"SELECT {', '.join(casts)}, concat_ws(',', {', '.join(checks)}) AS __bad FROM __raw"
        self.con: Any = None
        if checks:  # only then is a conversion pass needed at all
            import duckdb

            self.con = duckdb.connect()
            self.con.execute("SET threads = 1")  # the other core is reading the next batches

    def close(self) -> None:
        if self.con is not None:
            self.con.close()

    def __call__(self, raw: pa.Table) -> tuple[pa.Table, list[Reject], Any]:
        import pyarrow.compute as pc

        typed, rejects = raw, []
        if self.con is not None:
            self.con.register("__raw", raw)
            try:
                typed = self.con.sql(self.sql).to_arrow_table()
            finally:
                self.con.unregister("__raw")
            bad = typed.column("__bad")
            ok_mask = pc.equal(bad, "")
            if typed.num_rows and not pc.all(ok_mask).as_py():
                for i in pc.indices_nonzero(pc.invert(ok_mask)).to_pylist():
                    rejects.append(self._reject(raw, i, bad[i].as_py()))
                typed = typed.filter(ok_mask)
            typed = typed.drop_columns(["__bad"])
        return typed, rejects, self._high(typed)

    def _high(self, typed: pa.Table) -> Any:
        import pyarrow.compute as pc

        cursor = self.r.cursor
        if cursor is None or not typed.num_rows:
            return None
        column = typed.column(cursor.name)
        if cursor.typname == "numeric" and duck_type(cursor) == "VARCHAR":
            # Unconstrained numeric is kept as exact text, and text order is not numeric order.
            return max((Decimal(v) for v in column.to_pylist() if v is not None), default=None)
        return _py(pc.max(column))

    def _reject(self, raw: pa.Table, i: int, columns: str) -> Reject:
        key = {k: str(raw.column(k)[i].as_py()) for k in self.r.primary_key}
        values = {c: raw.column(c)[i].as_py() for c in columns.split(",")}
        return Reject(
            platform=PLATFORM,
            stream=self.r.spec.name,
            source=self.r.spec.qualified,
            location=json.dumps(key, default=str),
            reason=f"cannot convert column(s) {columns} to the warehouse type",
            excerpt=json.dumps(values, default=str),
        )


def _py(scalar: pa.Scalar) -> Any:
    """``scalar.as_py()``, but a timestamp in microseconds without pyarrow's conversion, which
    imports pandas (~0.25 s of CPU, the only import of pandas in a Neon step on PostgreSQL)."""
    import pyarrow as pa

    t = scalar.type
    utc_or_naive = pa.types.is_timestamp(t) and t.unit == "us" and t.tz in (None, "UTC", "+00:00")
    if not utc_or_naive or not scalar.is_valid:
        return scalar.as_py()
    at = _EPOCH + timedelta(microseconds=scalar.value)
    return at if t.tz else at.replace(tzinfo=None)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def rechunk(batches: Iterable[pa.RecordBatch], chunk_rows: int, chunk_bytes: int) -> Iterator[pa.Table]:
    """Re-cut the driver's batches into chunks of at most ``chunk_rows`` rows and (unless one
    batch alone is larger) ``chunk_bytes`` bytes: one chunk is one warehouse transaction."""
    import pyarrow as pa

    pending: list[pa.RecordBatch] = []
    rows = size = 0
    for batch in batches:
        while batch.num_rows:
            if pending and size + batch.nbytes > chunk_bytes:
                yield pa.Table.from_batches(pending)
                pending, rows, size = [], 0, 0
            part = batch.slice(0, chunk_rows - rows)
            batch = batch.slice(part.num_rows)
            pending.append(part)
            rows += part.num_rows
            size += part.nbytes
            if rows >= chunk_rows:
                yield pa.Table.from_batches(pending)
                pending, rows, size = [], 0, 0
    if pending:
        yield pa.Table.from_batches(pending)


# -- cursors ---------------------------------------------------------------------------------
def encode_cursor(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def decode_cursor(r: Resolved, value: Any) -> Any:
    if value is None or r.cursor is None:
        return None
    kind = r.cursor.typname
    if kind in ("timestamptz", "timestamp"):
        return datetime.fromisoformat(value)
    if kind == "date":
        return date.fromisoformat(value)
    return Decimal(str(value)) if kind == "numeric" else int(value)


def _later(a: Any, b: Any) -> Any:
    if a is None:
        return b
    return a if b is None or a >= b else b


# -- queries ---------------------------------------------------------------------------------
def _select(r: Resolved) -> sql.Composable:
    from psycopg import sql

    # Aliased: the Arrow column names are the warehouse column names (to_json(x) AS x).
    exprs = [
        sql.SQL("{} AS {}").format(
            sql.SQL(select_expr(c, sql.Identifier(c.name).as_string())), sql.Identifier(c.name)
        )
        for c in r.columns
    ]
    return sql.SQL("SELECT {} FROM {}.{}").format(
        sql.SQL(", ").join(exprs), sql.Identifier(r.spec.schema), sql.Identifier(r.spec.table)
    )


def _bound(r: Resolved, value: Any, lookback_s: float) -> sql.Composable:
    """``CAST(value AS <cursor type>) - lookback`` with the value as a literal (COPY takes no
    bind parameters) and a cast chosen from a fixed list, never from text we were given."""
    from psycopg import sql

    assert r.cursor is not None
    cast = sql.SQL(CURSOR_CASTS[r.cursor.typname])
    literal = sql.Literal(str(encode_cursor(value)))
    if not lookback_s:
        return sql.SQL("CAST({} AS {})").format(literal, cast)
    if r.cursor_is_time:
        return sql.SQL("CAST({} AS {}) - make_interval(secs => {})").format(
            literal, cast, sql.Literal(float(lookback_s))
        )
    return sql.SQL("CAST({} AS {}) - {}").format(literal, cast, sql.Literal(int(lookback_s)))


def incremental_query(r: Resolved, high_water: Any) -> sql.Composable:
    from psycopg import sql

    query = _select(r)
    if r.cursor is None:
        return query  # no cursor column: every sync reads the table (upserts keep it exact)
    cur = sql.Identifier(r.cursor.name)
    if high_water is not None:
        # NULL cursors are re-read every time rather than silently dropped (dlt #1935).
        query = sql.SQL("{} WHERE ({} >= {} OR {} IS NULL)").format(
            query, cur, _bound(r, high_water, r.lookback_s), cur
        )
    order = [cur, *(sql.Identifier(k) for k in r.primary_key)]
    return sql.SQL("{} ORDER BY {} NULLS FIRST").format(query, sql.SQL(", ").join(order))


def window_query(r: Resolved, lower: sql.Composable, upper: Any) -> sql.Composable:
    from psycopg import sql

    assert r.cursor is not None
    cur = sql.Identifier(r.cursor.name)
    return sql.SQL("{} WHERE {} >= {} AND {} < {}").format(_select(r), cur, lower, cur, _bound(r, upper, 0))


# -- writing ---------------------------------------------------------------------------------
def ensure_table(warehouse: Warehouse, run_id: str, table: TableSpec) -> list[str]:
    """Create the table, or add the columns the source gained since (returned)."""
    with warehouse.transaction(run_id) as tx:
        return tx.ensure(table)


@dataclass
class SyncOutcome:
    stats: StreamStats = field(default_factory=StreamStats)
    high_water: Any = None
    chunks: int = 0
    appended: bool = False  # the whole-history fast path (plain inserts) held to the end


def _chunks(
    neon: NeonResource, con: psycopg.Connection, query: sql.Composable, convert: ChunkConverter
) -> Iterator[tuple[pa.Table, list[Reject], Any, int]]:
    with neon.arrow_batches(query.as_string(con)) as batches:
        for chunk in rechunk(batches, neon.chunk_rows, neon.chunk_bytes):
            typed, rejects, high = convert(chunk)
            yield typed, rejects, high, chunk.nbytes


class ChunkWriter:
    """Warehouse transactions for one stream's chunks on one DuckDB connection, re-opened every
    ``hold_s`` seconds.

    ``Warehouse.transaction`` opens and closes the file each time, and every close checkpoints:
    per 50k-row chunk that was most of a first sync's time (1M rows: 24 s instead of ~5 s).
    Holding the connection (and with it the warehouse's single-writer lock) for a few seconds at
    a time keeps that cost to one checkpoint per hold while other processes' steps still get
    their turn in between."""

    def __init__(self, warehouse: Warehouse, run_id: str, threads: int = 0, hold_s: float = 10.0):
        self.warehouse, self.run_id, self.hold_s = warehouse, run_id, hold_s
        self.threads = threads  # 0: DuckDB's default
        self._stack = ExitStack()
        self._con: Any = None
        self._opened = 0.0

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        from chitty_pipelines.warehouse.store import Transaction

        if self._con is not None and time.monotonic() - self._opened > self.hold_s:
            self.close()
        if self._con is None:
            self._con = self._stack.enter_context(self.warehouse.connect())
            self._opened = time.monotonic()
            if self.threads and self.warehouse.kind == "duckdb":  # a DuckDB setting
                self._con.execute(f"SET threads = {int(self.threads)}")
                # The setting belongs to the database instance, not this connection: undo it.
                self._stack.callback(self._con.execute, "RESET threads")
        self._con.execute("BEGIN TRANSACTION")
        try:
            yield Transaction(self._con, self.run_id, self.warehouse.backend)
        except BaseException:
            self._con.execute("ROLLBACK")
            raise
        self._con.execute("COMMIT")

    def close(self) -> None:
        self._con = None
        self._stack.close()
        self._stack = ExitStack()

    def __enter__(self) -> ChunkWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _append(tx: Transaction, r: Resolved, typed: pa.Table, appended_rows: int) -> int | None:
    """One INSERT (DuckDB) or COPY (PostgreSQL) of the whole chunk straight from Arrow, no key
    matching; None (nothing written) when the table may already hold some of its keys."""
    return tx.append_new(r.table, typed.select([c.name for c in r.columns]), appended_rows)


class _LoadedTwice(Exception):
    """A key came twice in a bulk first load (its key index refused to build)."""


def sync_incremental(
    neon: NeonResource,
    con: psycopg.Connection,
    warehouse: Warehouse,
    run_id: str,
    r: Resolved,
    *,
    full_refresh: bool,
    on_chunk: Callable[[int], None] = lambda _n: None,
) -> SyncOutcome:
    stored = decode_cursor(r, stored_high_water(warehouse, r))
    # A first load into an empty table may go in bulk (see _bulk_load); a key that comes twice
    # there rolls all of it back, and the load starts over chunk by chunk, which keeps the last
    # row of every key as it always did.
    bulk = r.key_enforced and (stored is None or full_refresh) and neon.bulk_load_rows > 0
    if bulk:
        try:
            return _sync_incremental(neon, con, warehouse, run_id, r, stored, full_refresh, True, on_chunk)
        except _LoadedTwice:
            log.warning("stream %s: a key came twice in its first load; loading chunk by chunk", r.spec.name)
    return _sync_incremental(neon, con, warehouse, run_id, r, stored, full_refresh, False, on_chunk)


def _sync_incremental(
    neon: NeonResource,
    con: psycopg.Connection,
    warehouse: Warehouse,
    run_id: str,
    r: Resolved,
    stored: Any,
    full_refresh: bool,
    bulk: bool,
    on_chunk: Callable[[int], None],
) -> SyncOutcome:
    out = SyncOutcome(high_water=stored, appended=r.key_enforced)
    convert = ChunkConverter(r)
    # Appending is exact only while no key of a chunk is in the warehouse table yet. It is
    # checked in every chunk's own transaction (Transaction.append_new), so a table that already
    # has rows (a later run, a resumed crash) or a concurrent writer (a backfill) switches to
    # upserts by key.
    appended_rows = 0
    try:
        query = incremental_query(r, None if full_refresh else stored)
        with ExitStack() as stack:
            writer = stack.enter_context(ChunkWriter(warehouse, run_id, neon.write_threads))
            # closed on the way out (an error included): it stops the reader and its COPY
            chunks = stack.enter_context(closing(_chunks(neon, con, query, convert)))
            if bulk:
                first = next(chunks, None)
                if first is not None:
                    chunks = itertools.chain([first], chunks)
                    if not _keys_ascending(first[0], r.primary_key):
                        appended_rows = _bulk_load(writer, r, chunks, out, neon.bulk_load_rows, on_chunk)
            for typed, rejects, high, nbytes in chunks:
                # Never move backwards: the look-back re-reads rows below the stored mark.
                out.high_water = _later(out.high_water, high)
                with writer.transaction() as tx:
                    written = _append(tx, r, typed, appended_rows) if out.appended else None
                    if written is None:
                        out.appended = False
                        written = tx.upsert(r.table, typed)
                    else:
                        appended_rows += written
                    out.stats.rows_written += written
                    out.stats.rejects += tx.add_rejects(rejects) if rejects else 0
                    tx.set_cursors(PLATFORM, r.spec.name, _cursor_state(r, out.high_water))
                out.stats.bytes_read += nbytes
                out.chunks += 1
                on_chunk(out.chunks)
    finally:
        convert.close()
    return out


def _keys_ascending(typed: pa.Table, keys: Sequence[str]) -> bool:
    """Whether the chunk's rows come in key order. Rows are read in cursor order; when the key
    follows it (a serial id, a time-ordered id), the index takes each key at its right edge,
    cheaper than building it after the load (1M events, measured: 1.5 s of server CPU to load
    with the index, 1.6-1.8 s to load without it and build it); keys in no such order (random
    UUIDs) cost 3.6-3.8 s loaded with the index and 2.2-2.4 s without it."""
    import pyarrow.compute as pc

    if typed.num_rows < 2:
        return True
    # stable: the indices are 0, 1, 2, ... exactly when the rows are already in key order
    order = pc.sort_indices(typed.select(list(keys)), sort_keys=[(k, "ascending") for k in keys])
    return bool(pc.all(pc.greater(order[1:], order[:-1])).as_py())


def _bulk_load(
    writer: ChunkWriter,
    r: Resolved,
    chunks: Iterator[tuple[pa.Table, list[Reject], Any, int]],
    out: SyncOutcome,
    max_rows: int,
    on_chunk: Callable[[int], None],
) -> int:
    """The first chunks of a first load into an empty table, up to about ``max_rows`` rows, in
    one transaction with their cursor (PostgreSQL: without the key index, built once at the
    end; Transaction.begin_bulk_load). Returns the rows appended (0: not empty, or DuckDB;
    nothing read). A crash rolls all of it back, so the next run starts from the beginning."""
    import psycopg

    rows = 0
    stats = StreamStats()
    high_water, count = out.high_water, 0
    with writer.transaction() as tx:
        token = tx.begin_bulk_load(r.table)
        if token is None:
            return 0  # the transaction ends here: a lock taken to look is not held longer
        for typed, rejects, high, nbytes in chunks:
            high_water = _later(high_water, high)
            rows += tx.append_columns(r.table, typed.select([c.name for c in r.columns]))
            stats.rejects += tx.add_rejects(rejects) if rejects else 0
            stats.bytes_read += nbytes
            count += 1
            on_chunk(out.chunks + count)
            if rows >= max_rows:
                break
        try:
            tx.end_bulk_load(token)
        except psycopg.errors.UniqueViolation:
            raise _LoadedTwice from None
        tx.set_cursors(PLATFORM, r.spec.name, _cursor_state(r, high_water))
    out.high_water, out.chunks = high_water, out.chunks + count
    out.stats.rows_written += rows
    out.stats.rejects += stats.rejects
    out.stats.bytes_read += stats.bytes_read
    return rows


def stored_high_water(warehouse: Warehouse, r: Resolved) -> Any:
    """The stream's stored mark, read directly: ``Warehouse.cursors`` goes through pandas, whose
    import alone was ~0.5 s of a 3 s first sync of 1M rows in a fresh step process."""
    from chitty_pipelines.warehouse.ops_tables import SYNC_CURSORS

    with warehouse.connect() as con:
        rows = con.execute(
            f"SELECT cursor_value FROM {SYNC_CURSORS.sql_name} "
            "WHERE platform = ? AND stream = ? AND cursor_key = 'high_water'",
            [PLATFORM, r.spec.name],
        ).fetchall()
    return json.loads(rows[0][0]) if rows else None


def _cursor_state(r: Resolved, high_water: Any) -> dict[str, Any]:
    return {
        "high_water": encode_cursor(high_water),
        "cursor_column": r.cursor.name if r.cursor else None,
        "primary_key": list(r.primary_key),
    }


def _day_bound(r: Resolved, day: datetime) -> Any:
    """A day boundary in the warehouse column's own type (DuckDB compares like with like)."""
    assert r.cursor is not None
    if r.cursor.typname == "timestamp":
        return day.replace(tzinfo=None)
    if r.cursor.typname == "date":
        return day.date()
    return day


def sync_window(
    neon: NeonResource,
    con: psycopg.Connection,
    warehouse: Warehouse,
    run_id: str,
    r: Resolved,
    start: datetime,
    end: datetime,
    on_chunk: Callable[[int], None] = lambda _n: None,
) -> SyncOutcome:
    """Delete-then-merge each day of [start, end) in its own transaction."""
    if r.cursor is None or not r.cursor_is_time:
        raise StreamConfigError(f"stream {r.spec.name}: daily partitions need a timestamp or date cursor")
    stored = decode_cursor(r, stored_high_water(warehouse, r))
    out = SyncOutcome(high_water=stored)
    convert = ChunkConverter(r)
    cur = quote(r.cursor.name)
    day = start
    try:
        while day < end:
            nxt = min(day + timedelta(days=1), end)
            lo, hi = _day_bound(r, day), _day_bound(r, nxt)
            lower = _bound(r, lo, r.lookback_s if day == start else 0)
            with warehouse.transaction(run_id) as tx:
                tx.ensure(r.table)
                tx.con.execute(f"DELETE FROM {r.table.sql_name} WHERE {cur} >= ? AND {cur} < ?", [lo, hi])
                for typed, rejects, high, nbytes in _chunks(neon, con, window_query(r, lower, hi), convert):
                    # Reported (the newest row this window saw), never stored: see the module doc.
                    out.high_water = _later(out.high_water, high)
                    out.stats.rows_written += tx.upsert(r.table, typed)
                    out.stats.rejects += tx.add_rejects(rejects) if rejects else 0
                    out.stats.bytes_read += nbytes
                    out.chunks += 1
                    on_chunk(out.chunks)
                # The key is stored for the unique-key check; the incremental mark stays as it was.
                tx.set_cursors(PLATFORM, r.spec.name, _cursor_state(r, stored))
            day = nxt
    finally:
        convert.close()
    return out
