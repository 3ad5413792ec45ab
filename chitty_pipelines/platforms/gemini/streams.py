"""Gemini activity from Google Takeout: files -> raw_local.gemini_prompts, sessions rebuilt by gap.

Incremental by file cursor; items that are not Gemini Apps activity are filtered by their header."""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg
import ijson

from chitty_pipelines.kernel.export_files import (
    BadArchiveError,
    ExportSource,
    Progress,
    clear_file_rejects,
    export_sources,
    is_activity_path,
)
from chitty_pipelines.kernel.file_cursor import FileCursor, whole_files
from chitty_pipelines.kernel.json_array import (
    ArrayRead,
    NotAnArrayError,
    describe_json_error,
    read_array,
    replaced_bytes,
)
from chitty_pipelines.kernel.local_files import SkippedPath, reject_skipped
from chitty_pipelines.platforms.gemini.parser import ActivityError, ActivityRules, is_gemini_item, prompt_row
from chitty_pipelines.warehouse import Reject, TableSpec, Warehouse, cols

PLATFORM, STREAM = "gemini", "gemini"
PROGRESS_BYTES = 64 * 1024 * 1024  # a progress line per this much JSON read in big files
GAP_KEY = "__session_gap_minutes"  # cursor row remembering the gap the sessions were built with
PROMPTS_KEY = dg.AssetKey(["raw_local", "gemini_prompts"])
SESSIONS_KEY = dg.AssetKey(["raw_local", "gemini_sessions"])

PROMPTS = TableSpec(
    "raw_local",
    "gemini_prompts",
    cols(
        ("prompt_id", "VARCHAR", "hash of time and title: stable across overlapping Takeouts"),
        ("prompt_time", "TIMESTAMPTZ"),
        ("prompt_text", "VARCHAR", "the title without its 'Prompted ' prefix"),
        ("response_text", "VARCHAR", "visible text of the first response"),
        ("response_html", "VARCHAR"),
        ("regenerations", "BIGINT", "extra safeHtmlItem entries"),
        ("gem_name", "VARCHAR", "from the subtitle '<Gem> was used in this chat.'"),
        ("attached_files", "VARCHAR[]"),
        ("has_image", "BOOLEAN"),
        ("header", "VARCHAR"),
        ("session_id", "VARCHAR", "assigned by time gap; see gemini_sessions"),
        ("source_file", "VARCHAR"),
        ("file_index", "BIGINT"),
        ("raw_json", "JSON", "the item without its response HTML"),
    ),
    primary_key=("prompt_id",),
    description="One row per Gemini prompt from Google Takeout's Gemini Apps activity.",
)

SESSIONS = TableSpec(
    "raw_local",
    "gemini_sessions",
    cols(
        ("session_id", "VARCHAR", "gemini-<first prompt id>"),
        ("started_at", "TIMESTAMPTZ"),
        ("ended_at", "TIMESTAMPTZ"),
        ("prompt_count", "BIGINT"),
        ("gem_names", "VARCHAR[]"),
        ("first_prompt", "VARCHAR", "first 200 characters of the first prompt"),
        ("gap_minutes", "DOUBLE", "the gap that separated sessions when this was built"),
    ),
    primary_key=("session_id",),
    description="Gemini prompts grouped into sessions: a new session after a gap longer than the setting.",
)


@dataclass
class GeminiOutcome:
    prompts_written: int = 0
    items_read: int = 0
    items_skipped: int = 0  # other activity: Created, Used, feedback, other products
    bytes_read: int = 0
    rejects: int = 0
    files_read: int = 0
    files_skipped: int = 0
    sessions_rebuilt: bool = False
    sessions_written: int = 0


@dataclass
class _FileRead:
    """One file's pending rows and rejects, written every ``batch_rows`` and at the end."""

    wh: Warehouse
    run_id: str | None
    key: str
    out: GeminiOutcome
    rows: list[dict[str, Any]] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    written: bool = False

    def write(self, cursor: FileCursor | None) -> None:
        with self.wh.transaction(self.run_id) as tx:
            if not self.written:  # the file's first write: its earlier rejects are replaced
                clear_file_rejects(tx, PLATFORM, STREAM, self.key)
                self.written = True
            self.out.prompts_written += tx.upsert(PROMPTS, self.rows)
            self.out.rejects += tx.add_rejects(self.rejects)
            if cursor is not None:
                tx.set_cursor(PLATFORM, STREAM, self.key, cursor.to_json())
        self.rows, self.rejects = [], []

    def reject(self, location: str, reason: str, excerpt: str = "", source: str | None = None) -> None:
        self.rejects.append(Reject(PLATFORM, STREAM, source or self.key, location, reason, excerpt))


def sync_activity(
    wh: Warehouse,
    files: list[Path],
    rules: ActivityRules,
    *,
    run_id: str | None,
    full: bool,
    gap_minutes: float,
    batch_rows: int = 5000,
    skipped: list[SkippedPath] | None = None,
    progress: Callable[[str], None] | None = None,
    progress_bytes: int = PROGRESS_BYTES,
) -> GeminiOutcome:
    out = GeminiOutcome()
    out.rejects += reject_skipped(wh, run_id, PLATFORM, STREAM, skipped)
    cursors = wh.cursors(PLATFORM, STREAM)
    to_read, unchanged = whole_files(files, None if full else cursors)
    out.files_skipped += len(unchanged)
    for f in to_read:
        out.files_read += 1
        done: FileCursor | None = f.done
        state = _FileRead(wh, run_id, f.key, out)
        try:
            _read(f.path, state, rules, batch_rows, progress, progress_bytes)
        except (OSError, zipfile.BadZipFile, EOFError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            state.reject("file", f"cannot read: {reason}")
            done = None  # unreadable now: try again next time
        state.write(done)
    # Sessions depend on every prompt and on the gap: rebuild when either may have changed.
    if full or out.files_read or cursors.get(GAP_KEY) != gap_minutes:
        out.sessions_rebuilt = True
        out.sessions_written = _rebuild_sessions(wh, run_id, gap_minutes)
    return out


def _read(
    path: Path,
    state: _FileRead,
    rules: ActivityRules,
    batch_rows: int,
    progress: Callable[[str], None] | None = None,
    progress_bytes: int = PROGRESS_BYTES,
) -> None:
    """Every activity document of ``path`` (the file, or the activity members of a Takeout ZIP)."""
    try:
        with export_sources(path, state.key, is_activity_path) as sources:
            for source in sources:
                _read_source(source, state, rules, batch_rows, progress, progress_bytes)
    except BadArchiveError as exc:
        state.reject("file", str(exc))


def _read_source(
    source: ExportSource,
    state: _FileRead,
    rules: ActivityRules,
    batch_rows: int,
    progress: Callable[[str], None] | None,
    progress_bytes: int,
) -> None:
    read = ArrayRead()
    ticker = Progress(progress, source, "item(s)", progress_bytes)
    try:
        for item in read_array(source.open, read):
            index = read.index
            state.out.items_read += 1
            ticker.update(read.bytes_read, index + 1)
            try:
                row = prompt_row(item, rules, source.key, index)
            except ActivityError as exc:
                state.reject(f"item {index}", str(exc), repr(item), source=source.key)
                continue
            if row is None:
                state.out.items_skipped += 1
                if index == 0 and isinstance(item, dict) and not _is_gemini(item, rules):
                    return  # every Takeout product has its own file: this one is not Gemini's
                continue
            state.rows.append(row)
            if len(state.rows) >= batch_rows:
                state.write(None)
    except NotAnArrayError:
        state.reject("file", "top-level JSON value is not an array", source=source.key)
    except (ijson.JSONError, UnicodeDecodeError) as exc:
        location, reason, excerpt = describe_json_error(exc, "item", read.index, read.bytes_read)
        state.reject(location, reason, excerpt, source=source.key)
    finally:
        state.out.bytes_read += read.bytes_read
        if read.replaced:
            state.reject(*replaced_bytes(read), source=source.key)


def _is_gemini(item: dict[str, Any], rules: ActivityRules) -> bool:
    return is_gemini_item(item, rules)


def _rebuild_sessions(wh: Warehouse, run_id: str | None, gap_minutes: float) -> int:
    """Sessions from every stored prompt: ordered by time, a gap over the setting starts one."""
    with wh.transaction(run_id) as tx:
        tx.ensure(PROMPTS)
        tx.ensure(SESSIONS)
        p, s = PROMPTS.sql_name, SESSIONS.sql_name
        tx.con.execute(
            f"""CREATE TEMP TABLE __gemini_sessions AS
            WITH ordered AS (
                SELECT prompt_id, prompt_time, gem_name, prompt_text,
                       CASE WHEN lag(prompt_time) OVER w IS NULL
                              OR prompt_time - lag(prompt_time) OVER w > to_seconds(CAST(? AS DOUBLE) * 60)
                            THEN 1 ELSE 0 END AS starts
                FROM {p} WINDOW w AS (ORDER BY prompt_time, prompt_id)),
            numbered AS (
                SELECT *, sum(starts) OVER (ORDER BY prompt_time, prompt_id ROWS UNBOUNDED PRECEDING) AS n
                FROM ordered)
            SELECT prompt_id, prompt_time, gem_name, prompt_text, n,
                   'gemini-' || first_value(prompt_id) OVER (PARTITION BY n ORDER BY prompt_time, prompt_id
                       ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) AS session_id
            FROM numbered""",
            [gap_minutes],
        )
        tx.con.execute(
            f"UPDATE {p} SET session_id = t.session_id FROM __gemini_sessions t "
            f"WHERE {p}.prompt_id = t.prompt_id"
        )
        tx.con.execute(f"DELETE FROM {s}")
        tx.con.execute(
            f"""INSERT INTO {s} SELECT session_id, min(prompt_time), max(prompt_time), count(*),
                   coalesce(list(DISTINCT gem_name ORDER BY gem_name)
                            FILTER (WHERE gem_name IS NOT NULL), CAST([] AS VARCHAR[])),
                   left(first(prompt_text ORDER BY prompt_time, prompt_id), 200), ?
                FROM __gemini_sessions GROUP BY session_id""",
            [gap_minutes],
        )
        tx.con.execute("DROP TABLE __gemini_sessions")
        tx.set_cursor(PLATFORM, STREAM, GAP_KEY, gap_minutes)
        return int(tx.con.execute(f"SELECT count(*) FROM {s}").fetchone()[0])
