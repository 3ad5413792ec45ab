"""The Claude Code sync engine: plan per-file reads from cursors, parse outside the warehouse
lock, commit rows and cursors of several files per short transaction, then derive sessions.

Memory and lock time are bounded by ``batch_bytes``: a batch holds at most about that much
input (one very large file is split into several batches, each with an exact cursor).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chitty_pipelines.kernel.file_cursor import FileCursor, decide
from chitty_pipelines.kernel.jsonl_files import iter_line_blocks
from chitty_pipelines.kernel.local_files import SessionFile, SkippedPath
from chitty_pipelines.platforms.claude_code.parallel import (
    UNIT_BYTES,
    FileTask,
    ParsedUnit,
    default_workers,
    parse_parallel,
    subagent_meta,
)
from chitty_pipelines.platforms.claude_code.parser import (
    FileContext,
    ParsedRows,
    Rejected,
    TranscriptParser,
    subagent_row,
)
from chitty_pipelines.platforms.claude_code.state import parse_state_file
from chitty_pipelines.platforms.claude_code.tables import (
    MESSAGES,
    RESULTS_SQL,
    SCOPE_SQL,
    SCOPED_SESSIONS_SQL,
    SCOPED_SPAWN_SQL,
    SCOPED_SUBAGENT_STATS_SQL,
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
from chitty_pipelines.warehouse.ops_tables import SYNC_CURSORS

if TYPE_CHECKING:
    import pyarrow as pa  # imported where Arrow is built: a sync that reads nothing never loads it

PLATFORM = "claude_code"
STREAM = "claude_code"  # transcript files
STATE_STREAM = "claude_state"  # todos/ and tasks/ files
DERIVED_STREAM = "claude_derived"  # whether claude_sessions must be recomputed
DERIVED_LOCK = "chitty:claude_code:derived"  # PostgreSQL advisory lock of that flag
# Each commit's connection close checkpoints the DuckDB file, rewriting the tables' partly filled
# row groups, so fewer, larger batches write the same rows for much less: 500 MB of transcripts
# took 3.5 s of flushing in 15 batches of 32 MB, 1.6 s in 4 of 128 MB. The longest single flush
# (the writer lock an API read may wait for) stayed at ~0.5 s; the parent's peak RSS grew by
# ~70 MB (bench/README.md, syncall_e2e).
BATCH_BYTES = 128 << 20
# Past this many changed sessions one derive over every line is cheaper than the scoped one.
SCOPED_DERIVE_MAX_SESSIONS = 1000
# Below this much new input, spawning parse workers (~0.5 s) costs more than it saves.
PARALLEL_MIN_BYTES = 24 << 20
PROGRESS_EVERY_S = 5.0


def to_arrow(spec: TableSpec, rows: list[tuple]) -> pa.Table:
    """Row tuples (in the spec's column order, possibly short of trailing columns) -> Arrow."""
    from chitty_pipelines.platforms.claude_code.arrow_rows import columns_to_arrow

    return columns_to_arrow(spec.arrow_schema(), rows)


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
    rows: ParsedRows = field(default_factory=ParsedRows)  # serial reads not yet in Arrow
    units: list[ParsedUnit] = field(default_factory=list)  # parsed elsewhere, already in Arrow
    rereads: list[str] = field(default_factory=list)  # files whose old rows go before new ones land
    starts: dict[str, int] = field(default_factory=dict)  # file -> lines kept before this read
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
        workers: int | None = None,
        parallel_min_bytes: int | None = None,
    ):
        self.wh = warehouse
        self.run_id = run_id
        self.full_refresh = full_refresh
        self.log = log
        self.batch_bytes = batch_bytes or BATCH_BYTES  # read at run time so tests can shrink it
        self.workers = workers or default_workers()
        self.parallel_min_bytes = PARALLEL_MIN_BYTES if parallel_min_bytes is None else parallel_min_bytes
        self.stats = SyncStats()
        self._batch = _Batch()  # rows and cursors not committed yet
        self._schemas = {
            "messages": MESSAGES,
            "tool_calls": TOOL_CALLS,
            "todos": TODOS,
            "subagents": SUBAGENTS,
        }

    # -- transcripts -------------------------------------------------------------------------
    def sync_transcripts(self, files: list[SessionFile]) -> None:
        cursors = {} if self.full_refresh else self.wh.cursors(PLATFORM, STREAM)
        st = self.stats
        st.files_total = len(files)
        planned: list[tuple[SessionFile, FileTask, str]] = []
        for f in files:
            key = str(f.path)
            saved = cursors.get(key)
            cursor = FileCursor.from_json(saved)
            action = "reread" if self.full_refresh else decide(cursor, f.size, f.mtime_ns, f.inode)
            if action == "skip":
                st.files_skipped += 1
                continue
            offset, line_no = (cursor.offset, cursor.line_no) if action == "resume" and cursor else (0, 0)
            known_session = saved.get("session_id") if isinstance(saved, dict) else None
            task = FileTask(
                key, f.kind, f.session_hint, known_session, offset, line_no, f.size, f.mtime_ns, f.inode
            )
            planned.append((f, task, action))
        todo_bytes = sum(t.size - t.offset for _, t, _ in planned)
        serial = planned
        if self.workers > 1 and todo_bytes >= self.parallel_min_bytes and todo_bytes > 0:
            # A file larger than a batch is read serially, so it can still commit in several
            # transactions with an exact cursor after each (a worker returns whole files).
            small = [p for p in planned if p[1].size - p[1].offset <= self.batch_bytes]
            serial = [p for p in planned if p[1].size - p[1].offset > self.batch_bytes]
            self._read_parallel(small, todo_bytes)
        self._read_serial(serial, todo_bytes)
        self._flush()

    def _read_parallel(self, planned: list[tuple[SessionFile, FileTask, str]], todo_bytes: int) -> None:
        actions = {t.key: a for _, t, a in planned}
        schemas = {name: spec.arrow_schema() for name, spec in self._schemas.items()}
        tasks = [t for _, t, _ in planned]
        progress = _Progress(self.log, todo_bytes, self.stats.files_total)
        self.log(f"claude_code: parsing {len(tasks)} files on {self.workers} worker processes")
        # Units of at most a quarter batch: both workers stay busy and a batch still gathers several.
        unit_bytes = min(UNIT_BYTES, max(1, self.batch_bytes // 4))
        for unit_tasks, unit in parse_parallel(tasks, schemas, self.batch_bytes, self.workers, unit_bytes):
            batch = self._batch
            for t in unit_tasks:
                if actions[t.key] == "reread":
                    batch.rereads.append(t.key)
                batch.starts[t.key] = t.line_no
            batch.units.append(unit)
            batch.cursors.update(unit.cursors)
            batch.bytes += unit.bytes_read
            st = self.stats
            st.bytes_read += unit.bytes_read
            st.files_read += unit.files_read
            st.files_failed += len(unit.failed)
            for key, error in unit.failed:
                self.log(f"could not read {key}: {error}")
                unit.rejects.append((key, Rejected(0, f"cannot read: {error}", "", "file")))
            progress.update(st.files_read + st.files_skipped, st.bytes_read)
            if batch.bytes >= self.batch_bytes:
                self._flush()

    def _read_serial(self, planned: list[tuple[SessionFile, FileTask, str]], todo_bytes: int) -> None:
        st = self.stats
        progress = _Progress(self.log, todo_bytes, st.files_total)
        for f, task, action in planned:
            key = task.key
            ctx = FileContext.for_file(key, f.kind, f.session_hint, task.known_session)
            if action == "reread":  # also without a cursor: cursors may have been cleared by hand
                self._batch.rereads.append(key)
            self._batch.starts[key] = task.line_no
            try:
                self._read_file(f, ctx, task.offset, task.line_no)
            except OSError as exc:  # vanished or unreadable now: what was read stays consistent
                st.files_failed += 1
                self.log(f"could not read {key}: {exc.strerror}")
                self._batch.rows.rejects.append(
                    (key, Rejected(0, f"cannot read: {exc.strerror or exc}", "", "file"))
                )
                continue
            st.files_read += 1
            progress.update(st.files_read + st.files_skipped, st.bytes_read)

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
                batch.rows.subagents.append(subagent_row(ctx, session, subagent_meta(f.path)))
            if batch.bytes >= self.batch_bytes:
                self._flush()
                # the file's later blocks follow rows already committed: keep those
                self._batch.starts[key] = block.end_line_no

    def _serial_unit(self, batch: _Batch) -> ParsedUnit:
        from chitty_pipelines.platforms.claude_code.arrow_rows import RESULTS_SCHEMA, columns_to_arrow

        rows = batch.rows
        tables = {name: to_arrow(spec, getattr(rows, name)) for name, spec in self._schemas.items()}
        tables["results"] = columns_to_arrow(RESULTS_SCHEMA, rows.tool_results)
        return ParsedUnit(tables, rows.rejects, sessions={r[2] for r in rows.messages})

    def _flush(self) -> None:
        batch, self._batch = self._batch, _Batch()
        if not batch.cursors and not batch.rows.rejects and not any(u.rejects for u in batch.units):
            return
        import pyarrow as pa

        from chitty_pipelines.warehouse.arrow_columns import column_to_arrow

        # Build everything Arrow-side before taking the lock.
        rows = batch.rows
        serial_rows = rows.messages or rows.tool_calls or rows.tool_results or rows.todos or rows.subagents
        serial = serial_rows or rows.rejects or not batch.units  # cursors alone still commit
        units = [*batch.units, self._serial_unit(batch)] if serial else batch.units
        merged = {
            name: pa.concat_tables([u.tables[name] for u in units]) for name in (*self._schemas, "results")
        }
        rejects = [
            Reject(PLATFORM, STREAM, src, r.location, r.reason, r.excerpt)
            for u in units
            for src, r in u.rejects
        ]
        starts = pa.Table.from_arrays(
            [
                column_to_arrow(list(batch.starts), pa.string()),
                column_to_arrow(list(batch.starts.values()), pa.int64()),
            ],
            names=["source_file", "from_line"],
        )
        with self.wh.transaction(self.run_id) as tx:
            _lock_derived(tx)
            for spec in self._schemas.values():
                tx.ensure(spec)
            # Lines are keyed by (file, line): deleting what this read replaces, then a plain
            # append, is the upsert without its join against the whole (growing) table.
            touched: set[str] = set().union(*(u.sessions for u in units))
            for spec in (MESSAGES, TODOS):
                sql = _DELETE_FROM_LINE_SQL.format(table=spec.sql_name)
                if spec is MESSAGES:  # a re-read file's old lines may have named other sessions
                    sql += " RETURNING t.session_id"
                    tx.con.register("__starts", starts)
                    try:
                        touched.update(r[0] for r in tx.con.execute(sql).fetchall())
                    finally:
                        tx.con.unregister("__starts")
                else:
                    _with_registered(tx, "__starts", starts, sql)
                self.stats.add_written(spec, tx.append(spec, merged[spec.name.removeprefix("claude_")]))
            for spec in (TOOL_CALLS, SUBAGENTS):
                tx.delete_where(spec, "source_file", batch.rereads)
                self.stats.add_written(spec, tx.upsert(spec, merged[spec.name.removeprefix("claude_")]))
            if merged["results"].num_rows:
                _with_registered(tx, "__results", merged["results"], RESULTS_SQL)
            self.stats.rejects += tx.add_rejects(rejects)
            tx.set_cursors(PLATFORM, STREAM, batch.cursors)
            # committed with the rows: a run that dies before derive() leaves the flag (and the
            # sessions to recompute) for the next
            _mark_dirty(tx, touched)
        self.stats.batches += 1
        self.stats.sessions_touched.update(touched)

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

    def reject_skipped(self, skipped: list[SkippedPath]) -> None:
        """Paths that look like transcripts or state files but were never opened (pipes,
        sockets, directories, broken or looping links) become rejects, so they are seen."""
        if not skipped:
            return
        with self.wh.transaction(self.run_id) as tx:
            rejects = [
                Reject(
                    PLATFORM,
                    STATE_STREAM if s.path.suffix == ".json" else STREAM,
                    str(s.path),
                    "file",
                    s.reason,
                )
                for s in skipped
            ]
            self.stats.rejects += tx.add_rejects(rejects)
        for s in skipped:
            self.log(f"claude_code: skipped {s.path}: {s.reason}")

    # -- derived -----------------------------------------------------------------------------
    def derive(self) -> bool:
        """Recompute the sessions whose lines changed since the last derive (all of them on a
        first or full sync); link subagents to their Task calls.

        Skipped (returns False) when no transcript rows were committed since the last derive, by
        this run or any other, so a sync with nothing new stays cheap."""
        state = self.wh.cursors(PLATFORM, DERIVED_STREAM).get("sessions")
        fresh = state is not None and not state.get("dirty")
        exists = self.wh.table_exists(SESSIONS.schema, SESSIONS.name)
        if fresh and not self.full_refresh and exists:
            return False
        with self.wh.transaction(self.run_id) as tx:
            _lock_derived(tx)
            # read again under the lock: another machine's batch may have flagged sessions since
            state = _derived_state(tx)
            changed = None if self.full_refresh or not exists or state is None else state.get("sessions")
            for spec in TABLES:
                tx.ensure(spec)
            if changed is None or len(changed) > SCOPED_DERIVE_MAX_SESSIONS:
                tx.con.execute(f"DELETE FROM {SESSIONS.sql_name}")
                tx.con.execute(f"INSERT INTO {SESSIONS.sql_name} {SESSIONS_SQL}")
                tx.con.execute(SUBAGENT_STATS_SQL)
                tx.con.execute(SPAWN_SQL)
            else:
                tx.con.execute(
                    "CREATE OR REPLACE TEMP TABLE __changed AS SELECT unnest(?::VARCHAR[]) AS session_id",
                    [sorted(changed)],
                )
                for sql in (*SCOPE_SQL, SCOPED_SESSIONS_SQL, SCOPED_SUBAGENT_STATS_SQL, SCOPED_SPAWN_SQL):
                    tx.con.execute(sql)
            tx.set_cursor(PLATFORM, DERIVED_STREAM, "sessions", {"dirty": False, "sessions": []})
        self.stats.written[SESSIONS.name] = len(self.stats.sessions_touched)
        return True


def _lock_derived(tx: Transaction) -> None:
    """PostgreSQL: several machines write one warehouse, so the flag's read-modify-write (a
    batch adds its sessions, a derive takes them and clears it) is serialized by a transaction-
    scoped advisory lock, taken first so that it never waits while holding others. Without it a
    derive cleared sessions another machine had just flagged, and those never reached
    claude_sessions. DuckDB has one writer at a time already."""
    if tx.backend.name == "postgres":
        tx.con.raw.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [DERIVED_LOCK])


def _derived_state(tx: Transaction) -> dict[str, Any] | None:
    row = tx.con.execute(
        f"SELECT cursor_value FROM {SYNC_CURSORS.sql_name}"
        " WHERE platform = ? AND stream = ? AND cursor_key = ?",
        [PLATFORM, DERIVED_STREAM, "sessions"],
    ).fetchone()
    return json.loads(row[0]) if row else None


def _mark_dirty(tx: Transaction, sessions: set[str]) -> None:
    """Flag claude_sessions for recompute and add ``sessions`` to those to recompute. A flag
    without a list (written by an older version) keeps meaning "recompute all"."""
    state = _derived_state(tx) or {}
    if state.get("dirty") and "sessions" not in state:
        return
    known = set(state.get("sessions") or []) if state.get("dirty") else set()
    tx.set_cursor(PLATFORM, DERIVED_STREAM, "sessions", {"dirty": True, "sessions": sorted(known | sessions)})


# Rows of the files in __starts (source_file, from_line) past from_line: the lines a read replaces
# (from_line 0 for a re-read file; normally none at all for a resumed one, unless another sync
# committed the same lines meanwhile).
_DELETE_FROM_LINE_SQL = """
DELETE FROM {table} AS t USING __starts AS s
WHERE t.source_file = s.source_file AND t.line_no > s.from_line
"""


def _with_registered(tx: Transaction, name: str, table: pa.Table, sql: str) -> None:
    tx.con.register(name, table)
    try:
        tx.con.execute(sql)
    finally:
        tx.con.unregister(name)


class _Progress:
    """A log line every PROGRESS_EVERY_S seconds: files done, MB read, throughput."""

    def __init__(self, log: Callable[[str], None], total_bytes: int, total_files: int):
        self.log, self.total_bytes, self.total_files = log, total_bytes, total_files
        self.started = self.last = time.monotonic()

    def update(self, files_done: int, bytes_read: int) -> None:
        now = time.monotonic()
        if now - self.last < PROGRESS_EVERY_S:
            return
        self.last = now
        mb = bytes_read / 1e6
        self.log(
            f"claude_code: {files_done}/{self.total_files} files, "
            f"{mb:.1f} of {self.total_bytes / 1e6:.1f} MB "
            f"({mb / max(now - self.started, 1e-9):.1f} MB/s)"
        )
