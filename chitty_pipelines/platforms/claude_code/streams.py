"""The Claude Code sync engine: plan per-file reads from cursors, parse outside the warehouse
lock, commit rows and cursors of several files per short transaction, then derive sessions.

Memory and lock time are bounded by ``batch_bytes``: a batch holds at most about that much
input (one very large file is split into several batches, each with an exact cursor).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa

from chitty_pipelines.kernel.file_cursor import FileCursor, decide
from chitty_pipelines.kernel.jsonl_files import iter_line_blocks
from chitty_pipelines.kernel.local_files import SessionFile
from chitty_pipelines.platforms.claude_code.parser import (
    FileContext,
    ParsedRows,
    TranscriptParser,
    subagent_row,
)
from chitty_pipelines.platforms.claude_code.state import parse_state_file
from chitty_pipelines.platforms.claude_code.tables import (
    MESSAGES,
    RESULTS_SQL,
    SESSIONS,
    SESSIONS_SQL,
    SPAWN_SQL,
    SUBAGENT_STATS_SQL,
    SUBAGENTS,
    TABLES,
    TODOS,
    TOOL_CALLS,
)
from chitty_pipelines.warehouse import Reject, TableSpec, Transaction, Warehouse

PLATFORM = "claude_code"
STREAM = "claude_code"  # transcript files
STATE_STREAM = "claude_state"  # todos/ and tasks/ files
DERIVED_STREAM = "claude_derived"  # whether claude_sessions must be recomputed
BATCH_BYTES = 32 << 20
PROGRESS_EVERY_S = 5.0

_RESULTS_SCHEMA = pa.schema(
    [
        ("session_id", pa.string()),
        ("tool_use_id", pa.string()),
        ("is_error", pa.bool_()),
        ("result_at", pa.timestamp("us", tz="UTC")),
        ("agent_id", pa.string()),
    ]
)


def to_arrow(spec: TableSpec, rows: list[tuple]) -> pa.Table:
    """Row tuples (in the spec's column order, possibly short of trailing columns) -> Arrow."""
    schema = spec.arrow_schema()
    return _columns_to_arrow(schema, rows)


def _columns_to_arrow(schema: pa.Schema, rows: list[tuple]) -> pa.Table:
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(schema)
    arrays = []
    for i, f in enumerate(schema):
        if i >= len(columns):
            arrays.append(pa.nulls(len(rows), f.type))
        elif pa.types.is_timestamp(f.type):
            arrays.append(_timestamps(columns[i], f.type))
        else:
            arrays.append(pa.array(columns[i], type=f.type))
    return pa.Table.from_arrays(arrays, schema=schema)


def _timestamps(values: tuple, type_: pa.DataType) -> pa.Array:
    """ISO strings -> timestamps. Arrow's cast is ~10x faster than converting datetime objects;
    a value it cannot parse (a well-shaped but impossible date) becomes null, not a failed sync."""
    strings = pa.array(values, type=pa.string())
    try:
        return strings.cast(type_)
    except pa.ArrowInvalid:
        return pa.array([_one_timestamp(v, type_) for v in values], type=type_)


def _one_timestamp(value: str | None, type_: pa.DataType):
    try:
        return pa.scalar(value, pa.string()).cast(type_) if value else None
    except pa.ArrowInvalid:
        return None


@dataclass
class SyncStats:
    files_total: int = 0
    files_read: int = 0
    files_skipped: int = 0
    files_failed: int = 0
    bytes_read: int = 0
    batches: int = 0
    rejects: int = 0
    written: dict[str, int] = field(default_factory=dict)
    sessions_touched: set[str] = field(default_factory=set)

    def add_written(self, table: TableSpec, n: int) -> None:
        self.written[table.name] = self.written.get(table.name, 0) + n


@dataclass
class _Batch:
    rows: ParsedRows = field(default_factory=ParsedRows)
    rereads: list[str] = field(default_factory=list)  # files whose old rows go before new ones land
    cursors: dict[str, dict[str, Any]] = field(default_factory=dict)
    bytes: int = 0


class ClaudeSync:
    def __init__(
        self,
        warehouse: Warehouse,
        run_id: str | None,
        full_refresh: bool,
        log: Callable[[str], None],
        batch_bytes: int | None = None,
    ):
        self.wh = warehouse
        self.run_id = run_id
        self.full_refresh = full_refresh
        self.log = log
        self.batch_bytes = batch_bytes or BATCH_BYTES  # read at run time so tests can shrink it
        self.stats = SyncStats()
        self._batch = _Batch()  # rows and cursors not committed yet

    # -- transcripts -------------------------------------------------------------------------
    def sync_transcripts(self, files: list[SessionFile]) -> None:
        cursors = {} if self.full_refresh else self.wh.cursors(PLATFORM, STREAM)
        st = self.stats
        st.files_total = len(files)
        total_bytes = sum(f.size for f in files)
        last_log = started = time.monotonic()
        for done, f in enumerate(files, 1):
            key = str(f.path)
            saved = cursors.get(key)
            cursor = FileCursor.from_json(saved)
            action = "reread" if self.full_refresh else decide(cursor, f.size, f.mtime_ns, f.inode)
            if action == "skip":
                st.files_skipped += 1
                continue
            offset, line_no = (cursor.offset, cursor.line_no) if action == "resume" and cursor else (0, 0)
            known_session = saved.get("session_id") if isinstance(saved, dict) else None
            ctx = FileContext.for_file(key, f.kind, f.session_hint, known_session)
            if action == "reread":  # also without a cursor: cursors may have been cleared by hand
                self._batch.rereads.append(key)
            try:
                self._read_file(f, ctx, offset, line_no)
            except OSError as exc:  # vanished or unreadable now: what was read stays consistent
                st.files_failed += 1
                self.log(f"could not read {key}: {exc.strerror}")
                continue
            st.files_read += 1
            now = time.monotonic()
            if now - last_log >= PROGRESS_EVERY_S:
                last_log = now
                mb = st.bytes_read / 1e6
                self.log(
                    f"claude_code: {done}/{len(files)} files, {mb:.1f} of {total_bytes / 1e6:.1f} MB "
                    f"({mb / max(now - started, 1e-9):.1f} MB/s)"
                )
        self._flush()

    def _read_file(self, f: SessionFile, ctx: FileContext, offset: int, line_no: int) -> None:
        """Parse the file's new lines into the pending batch; each block's rows and the cursor
        just past them always land in the same batch, so any flush is consistent."""
        key = str(f.path)
        for block in iter_line_blocks(f.path, offset, line_no, f.size, self.batch_bytes):
            batch = self._batch
            parser = TranscriptParser(ctx, batch.rows)
            for n, raw in block.lines:
                parser.line(n, raw)
            batch.bytes += block.bytes_read
            self.stats.bytes_read += block.bytes_read
            # Mid-file cursors record size = offset so that the next sync resumes, never skips.
            size = f.size if block.eof else block.end_offset
            cursor = FileCursor(size, f.mtime_ns, f.inode, block.end_offset, block.end_line_no)
            batch.cursors[key] = {**cursor.to_json(), "session_id": ctx.session_id}
            if block.eof and f.kind != "main":
                session = ctx.session_id or ctx.session_hint
                batch.rows.subagents.append(subagent_row(ctx, session, _meta(f.path)))
            if batch.bytes >= self.batch_bytes:
                self._flush()

    def _flush(self) -> None:
        batch, self._batch = self._batch, _Batch()
        if not batch.cursors and not batch.rows.rejects:
            return
        rows = batch.rows
        # Build everything Arrow-side before taking the lock.
        tables = [
            (MESSAGES, to_arrow(MESSAGES, rows.messages)),
            (TOOL_CALLS, to_arrow(TOOL_CALLS, rows.tool_calls)),
            (TODOS, to_arrow(TODOS, rows.todos)),
            (SUBAGENTS, to_arrow(SUBAGENTS, rows.subagents)),
        ]
        results = _columns_to_arrow(_RESULTS_SCHEMA, rows.tool_results)
        rejects = [
            Reject(PLATFORM, STREAM, src, f"line {r.line_no}", r.reason, r.excerpt) for src, r in rows.rejects
        ]
        with self.wh.transaction(self.run_id) as tx:
            for spec, _ in tables:
                tx.ensure(spec)
            for spec, _ in tables:
                tx.delete_where(spec, "source_file", batch.rereads)
            for spec, table in tables:
                self.stats.add_written(spec, tx.upsert(spec, table))
            if results.num_rows:
                _with_registered(tx, "__results", results, RESULTS_SQL)
            self.stats.rejects += tx.add_rejects(rejects)
            tx.set_cursors(PLATFORM, STREAM, batch.cursors)
            # committed with the rows: a run that dies before derive() leaves the flag for the next
            tx.set_cursor(PLATFORM, DERIVED_STREAM, "sessions", {"dirty": True})
        self.stats.batches += 1
        self.stats.sessions_touched.update(r[2] for r in rows.messages)

    # -- todos/ and tasks/ -------------------------------------------------------------------
    def sync_state_files(self, files: Iterable[tuple[str, Path]]) -> None:
        cursors = {} if self.full_refresh else self.wh.cursors(PLATFORM, STATE_STREAM)
        todo_rows: list[tuple] = []
        changed: list[str] = []
        new_cursors: dict[str, dict[str, Any]] = {}
        rejects: list[Reject] = []
        for folder, path in files:
            try:
                st = path.stat()
            except OSError:
                continue
            key = str(path)
            cursor = FileCursor.from_json(cursors.get(key))
            if not self.full_refresh and decide(cursor, st.st_size, st.st_mtime_ns, st.st_ino) == "skip":
                self.stats.files_skipped += 1
                continue
            rows, error = parse_state_file(path, folder, st.st_mtime_ns)
            self.stats.files_read += 1
            self.stats.bytes_read += st.st_size
            changed.append(key)
            todo_rows.extend(rows)
            if error:
                rejects.append(Reject(PLATFORM, STATE_STREAM, key, "file", error))
            new_cursors[key] = FileCursor(st.st_size, st.st_mtime_ns, st.st_ino, st.st_size).to_json()
        if not new_cursors:
            return
        table = to_arrow(TODOS, todo_rows)
        with self.wh.transaction(self.run_id) as tx:
            tx.ensure(TODOS)
            tx.delete_where(TODOS, "source_file", changed)  # a rewritten list replaces the old one
            self.stats.add_written(TODOS, tx.upsert(TODOS, table))
            self.stats.rejects += tx.add_rejects(rejects)
            tx.set_cursors(PLATFORM, STATE_STREAM, new_cursors)

    # -- derived -----------------------------------------------------------------------------
    def derive(self) -> bool:
        """Recompute sessions from every stored line; link subagents to their Task calls.

        Skipped (returns False) when no transcript rows were committed since the last derive, by
        this run or any other, so a sync with nothing new stays cheap."""
        state = self.wh.cursors(PLATFORM, DERIVED_STREAM).get("sessions")
        fresh = state is not None and not state.get("dirty")
        if fresh and not self.full_refresh and self.wh.table_exists(SESSIONS.schema, SESSIONS.name):
            return False
        with self.wh.transaction(self.run_id) as tx:
            for spec in TABLES:
                tx.ensure(spec)
            tx.con.execute(f"DELETE FROM {SESSIONS.sql_name}")
            tx.con.execute(f"INSERT INTO {SESSIONS.sql_name} {SESSIONS_SQL}")
            tx.con.execute(SUBAGENT_STATS_SQL)
            tx.con.execute(SPAWN_SQL)
            tx.set_cursor(PLATFORM, DERIVED_STREAM, "sessions", {"dirty": False})
        self.stats.written[SESSIONS.name] = len(self.stats.sessions_touched)
        return True


def _with_registered(tx: Transaction, name: str, table: pa.Table, sql: str) -> None:
    tx.con.register(name, table)
    try:
        tx.con.execute(sql)
    finally:
        tx.con.unregister(name)


def _meta(path: Path) -> dict | None:
    """The v2.1 ``agent-<id>.meta.json`` sidecar, when there is one and it is a JSON object."""
    try:
        value = orjson.loads(path.with_suffix(".meta.json").read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None
    return value if isinstance(value, dict) else None
