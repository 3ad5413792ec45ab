"""Parse transcript files on every core: worker processes turn whole files into Arrow tables,
the calling process only writes them to the warehouse.

Parsing is pure Python per line (orjson plus the §1 rules), so one process tops out at one
core; the GIL rules out threads. Workers are fresh interpreters running this module
(``python -m``), never forks (the Dagster step that calls this runs threads, and a fork copies
their held locks). Not ``multiprocessing``: its spawn re-imports the caller's ``__main__``
(the ``chitty-sync`` script imports Dagster: ~1 s per worker); these import only orjson,
pyarrow and the parser. Tasks go as pickles over the worker's stdin, results come back over a
pipe of their own (not stdout: anything printed there, by a library or a profiler attached to
the worker, would land inside the stream and break the next pickle: "invalid load key").

A unit is a list of whole files; results come back in submission order, so the caller commits
files in the same order as a serial sync would (a tool result and its call meet the same way).
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from chitty_pipelines.kernel.cores import usable_cores
from chitty_pipelines.kernel.file_cursor import FileCursor
from chitty_pipelines.kernel.jsonl_files import iter_line_blocks
from chitty_pipelines.platforms.claude_code.parser import ParsedRows, TranscriptParser
from chitty_pipelines.platforms.claude_code.rows import FileContext, subagent_row

if TYPE_CHECKING:
    import pyarrow as pa  # imported by parse_unit: the step's process loads it only to parse

UNIT_BYTES = 8 << 20  # input per task: small enough to balance two workers, large enough to amortise
IN_FLIGHT_PER_WORKER = 2  # bounded queue: parsed results never pile up in memory


@dataclass(frozen=True)
class FileTask:
    """One file to read from ``offset`` (line ``line_no``) up to ``size``, as planned by the caller."""

    key: str
    kind: str
    session_hint: str
    known_session: str | None
    offset: int
    line_no: int
    size: int
    mtime_ns: int
    inode: int


@dataclass
class ParsedUnit:
    """Arrow tables of a unit's rows plus everything the caller commits with them."""

    tables: dict[str, pa.Table]  # messages, tool_calls, todos, subagents, results
    rejects: list[tuple[str, Any]]  # (source_file, parser.Rejected)
    cursors: dict[str, dict[str, Any]] = field(default_factory=dict)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (file, error) unreadable now
    bytes_read: int = 0
    files_read: int = 0
    sessions: set[str] = field(default_factory=set)


def parse_unit(tasks: list[FileTask], schemas: dict[str, pa.Schema], block_bytes: int) -> ParsedUnit:
    """Worker entry point: parse whole files into Arrow tables (cursor per file, as serial does)."""
    rows = ParsedRows()
    cursors: dict[str, dict[str, Any]] = {}
    failed: list[tuple[str, str]] = []
    n_bytes = files = 0
    for t in tasks:
        ctx = FileContext.for_file(t.key, t.kind, t.session_hint, t.known_session)
        parser = TranscriptParser(ctx, rows)
        try:
            for block in iter_line_blocks(t.key, t.offset, t.line_no, t.size, block_bytes):
                for n, raw in block.lines:
                    parser.line(n, raw)
                n_bytes += block.bytes_read
                size = t.size if block.eof else block.end_offset
                cursor = FileCursor(size, t.mtime_ns, t.inode, block.end_offset, block.end_line_no)
                cursors[t.key] = {**cursor.to_json(), "session_id": ctx.session_id}
                if block.eof and t.kind != "main":
                    session = ctx.session_id or ctx.session_hint
                    rows.subagents.append(subagent_row(ctx, session, subagent_meta(Path(t.key))))
        except OSError as exc:  # rows of the blocks read so far stay, with their cursor
            failed.append((t.key, exc.strerror or str(exc)))
            continue
        files += 1
    from chitty_pipelines.platforms.claude_code.arrow_rows import RESULTS_SCHEMA, columns_to_arrow

    # pyarrow's own conversion: faster on a unit's thousands of rows (arrow_rows.columns_to_arrow)
    tables = {n: columns_to_arrow(schemas[n], getattr(rows, n), pandas_free=False) for n in schemas}
    tables["results"] = columns_to_arrow(RESULTS_SCHEMA, rows.tool_results, pandas_free=False)
    sessions = set(tables["messages"].column("session_id").unique().to_pylist()) if rows.messages else set()
    return ParsedUnit(tables, rows.rejects, cursors, failed, n_bytes, files, sessions)


def subagent_meta(path: Path) -> dict | None:
    """The v2.1 ``agent-<id>.meta.json`` sidecar, when there is one and it is a JSON object."""
    try:
        value = orjson.loads(path.with_suffix(".meta.json").read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None
    return value if isinstance(value, dict) else None


def units(tasks: list[FileTask], unit_bytes: int = UNIT_BYTES) -> list[list[FileTask]]:
    """Consecutive files grouped into units of about ``unit_bytes`` (order kept)."""
    out: list[list[FileTask]] = []
    current: list[FileTask] = []
    size = 0
    for t in tasks:
        current.append(t)
        size += t.size - t.offset
        if size >= unit_bytes:
            out.append(current)
            current, size = [], 0
    if current:
        out.append(current)
    return out


def default_workers() -> int:
    """One worker per core this process may use."""
    return usable_cores()


def parse_parallel(
    tasks: list[FileTask],
    schemas: dict[str, pa.Schema],
    block_bytes: int,
    workers: int,
    unit_bytes: int = UNIT_BYTES,
) -> Iterator[tuple[list[FileTask], ParsedUnit]]:
    """Yield (files, parsed) units in order; unit i goes to worker i % workers, each worker
    holding at most IN_FLIGHT_PER_WORKER units, so parsed results never pile up in memory."""
    todo = units(tasks, unit_bytes)
    if not todo:
        return
    procs = [_start_worker() for _ in range(min(workers, len(todo)))]
    try:
        sent = 0

        def send(upto: int) -> None:
            nonlocal sent
            while sent < min(upto, len(todo)):
                proc = procs[sent % len(procs)]
                pickle.dump((todo[sent], schemas, block_bytes), proc.stdin, pickle.HIGHEST_PROTOCOL)
                proc.stdin.flush()
                sent += 1

        send(len(procs) * IN_FLIGHT_PER_WORKER)
        for i, unit in enumerate(todo):
            proc = procs[i % len(procs)]
            try:
                result = pickle.load(proc.results)  # type: ignore[attr-defined]
            except EOFError:
                proc.wait()
                raise RuntimeError(
                    f"parse worker exited with {proc.returncode}: {_stderr_tail(proc)}"
                ) from None
            send(i + 1 + len(procs) * IN_FLIGHT_PER_WORKER)
            yield unit, result
    finally:
        for proc in procs:
            _stop_worker(proc)


def _start_worker() -> subprocess.Popen:
    read_end, write_end = os.pipe()
    cmd = [sys.executable, "-m", "chitty_pipelines.platforms.claude_code.parse_worker", str(write_end)]
    # stdout and stderr to a temp file: a chatty worker can never block on a full pipe. Closed by
    # _stop_worker, which outlives this function (hence no context manager).
    err = tempfile.TemporaryFile()  # noqa: SIM115
    try:
        proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=err, stderr=err, pass_fds=(write_end,)
        )  # fmt: skip
    except BaseException:
        os.close(read_end)
        err.close()
        raise
    finally:
        os.close(write_end)  # the worker holds it now: EOF here when it exits
    proc.results = os.fdopen(read_end, "rb")  # type: ignore[attr-defined]
    proc.err_file = err  # type: ignore[attr-defined]
    return proc


def _stderr_tail(proc: subprocess.Popen) -> str:
    err = proc.err_file  # type: ignore[attr-defined]
    err.seek(0)
    return err.read()[-2000:].decode(errors="replace")


def _stop_worker(proc: subprocess.Popen) -> None:
    try:
        proc.stdin.close()  # EOF: the worker's loop ends
        proc.wait(timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        proc.kill()
        proc.wait()
    finally:
        proc.results.close()  # type: ignore[attr-defined]
        proc.err_file.close()  # type: ignore[attr-defined]


def serve(results_fd: int) -> None:
    """Worker loop: one pickled (tasks, schemas, block_bytes) in on stdin, one pickled ParsedUnit
    out on ``results_fd``."""
    stdin = sys.stdin.buffer
    with os.fdopen(results_fd, "wb") as out:
        while True:
            try:
                tasks, schemas, block_bytes = pickle.load(stdin)
            except EOFError:
                return
            pickle.dump(parse_unit(tasks, schemas, block_bytes), out, pickle.HIGHEST_PROTOCOL)
            out.flush()
