"""Gemini prompts from Google Takeout activity (``My Activity.json``) under CHITTY_EXPORTS_DIR.

Prompts are upserted by a stable id (time + title), so overlapping Takeouts give one row per
prompt. Sessions do not exist in the export: they are rebuilt in SQL from every stored prompt by
time gap, and a session's id is derived from its first prompt, so it stays the same when a later
Takeout extends it.
"""

# No ``from __future__ import annotations``: Dagster reads the config class from the real annotation.
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg
import ijson
from pydantic import Field

from chitty_pipelines.kernel.assets import (
    Check,
    StreamStats,
    SyncConfig,
    bundled_checks,
    is_full_refresh,
    log_sync,
    now,
    rejects_check,
    table_metadata,
    unique_key_check,
)
from chitty_pipelines.kernel.file_cursor import FileCursor, decide
from chitty_pipelines.kernel.local_files import LocalSessionsResource
from chitty_pipelines.platforms.chatgpt.parser import CountingReader, iter_items
from chitty_pipelines.platforms.gemini.parser import ActivityError, ActivityRules, prompt_row
from chitty_pipelines.warehouse import Reject, TableSpec, Warehouse, cols
from chitty_pipelines.warehouse.resource import WarehouseResource

PLATFORM, STREAM = "gemini", "gemini"
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


class GeminiSyncConfig(SyncConfig):
    session_gap_minutes: float = Field(default=30.0, description="A longer pause starts a new session.")
    headers: list[str] = Field(default=["Gemini Apps"], description="Item headers (localised) to read.")
    prompt_prefixes: list[str] = Field(default=["Prompted "], description="Title prefixes of prompts.")
    batch_rows: int = Field(default=5000, description="Prompts per write transaction.")


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

    def write(self, cursor: FileCursor | None) -> None:
        with self.wh.transaction(self.run_id) as tx:
            self.out.prompts_written += tx.upsert(PROMPTS, self.rows)
            self.out.rejects += tx.add_rejects(self.rejects)
            if cursor is not None:
                tx.set_cursor(PLATFORM, STREAM, self.key, cursor.to_json())
        self.rows, self.rejects = [], []

    def reject(self, location: str, reason: str, excerpt: str = "") -> None:
        self.rejects.append(Reject(PLATFORM, STREAM, self.key, location, reason, excerpt))


def sync_activity(
    wh: Warehouse,
    files: list[Path],
    rules: ActivityRules,
    *,
    run_id: str | None,
    full: bool,
    gap_minutes: float,
    batch_rows: int = 5000,
) -> GeminiOutcome:
    out = GeminiOutcome()
    cursors = wh.cursors(PLATFORM, STREAM)
    for path in files:
        key = str(path.resolve())
        try:
            st = path.stat()
        except OSError:
            continue
        stored = None if full else FileCursor.from_json(cursors.get(key))
        if decide(stored, st.st_size, st.st_mtime_ns, st.st_ino) == "skip":
            out.files_skipped += 1
            continue
        out.files_read += 1
        done: FileCursor | None = FileCursor(st.st_size, st.st_mtime_ns, st.st_ino, st.st_size)
        state = _FileRead(wh, run_id, key, out)
        try:
            _read(path, state, rules, batch_rows)
        except OSError as exc:
            state.reject("file", f"cannot read: {exc.strerror or exc}")
            done = None  # unreadable now: try again next time
        state.write(done)
    # Sessions depend on every prompt and on the gap: rebuild when either may have changed.
    if full or out.files_read or cursors.get(GAP_KEY) != gap_minutes:
        out.sessions_rebuilt = True
        out.sessions_written = _rebuild_sessions(wh, run_id, gap_minutes)
    return out


def _read(path: Path, state: _FileRead, rules: ActivityRules, batch_rows: int) -> None:
    with path.open("rb") as raw:
        if not raw.read(64).lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"["):
            state.reject("file", "top-level JSON value is not an array")
            return
        raw.seek(0)
        reader = CountingReader(raw)
        index = -1
        try:
            for index, item in enumerate(iter_items(reader)):
                state.out.items_read += 1
                try:
                    row = prompt_row(item, rules, state.key, index)
                except ActivityError as exc:
                    state.reject(f"item {index}", str(exc), repr(item))
                    continue
                if row is None:
                    state.out.items_skipped += 1
                    if index == 0 and isinstance(item, dict) and not _is_gemini(item, rules):
                        return  # every Takeout product has its own file: this one is not Gemini's
                    continue
                state.rows.append(row)
                if len(state.rows) >= batch_rows:
                    state.write(None)
        except (ijson.JSONError, UnicodeDecodeError) as exc:
            message = exc.args[0] if exc.args else exc
            text = message.decode("utf-8", "replace") if isinstance(message, bytes) else str(message)
            state.reject(f"after item {index}", f"invalid JSON: {text.strip().splitlines()[0]}")
        finally:
            state.out.bytes_read += reader.bytes_read


def _is_gemini(item: dict[str, Any], rules: ActivityRules) -> bool:
    products = item.get("products") if isinstance(item.get("products"), list) else []
    return item.get("header") in rules.headers or any(p in rules.headers for p in products)


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
                              OR prompt_time - lag(prompt_time) OVER w > to_seconds(?::DOUBLE * 60)
                            THEN 1 ELSE 0 END AS starts
                FROM {p} WINDOW w AS (ORDER BY prompt_time, prompt_id)),
            numbered AS (
                SELECT *, sum(starts) OVER (ORDER BY prompt_time, prompt_id ROWS UNBOUNDED PRECEDING) AS n
                FROM ordered)
            SELECT prompt_id, prompt_time, gem_name, prompt_text, n,
                   'gemini-' || first(prompt_id ORDER BY prompt_time, prompt_id) OVER (PARTITION BY n)
                       AS session_id
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
                            FILTER (WHERE gem_name IS NOT NULL), []),
                   left(first(prompt_text ORDER BY prompt_time, prompt_id), 200), ?
                FROM __gemini_sessions GROUP BY session_id""",
            [gap_minutes],
        )
        tx.con.execute("DROP TABLE __gemini_sessions")
        tx.set_cursor(PLATFORM, STREAM, GAP_KEY, gap_minutes)
        return int(tx.con.execute(f"SELECT count(*) FROM {s}").fetchone()[0])


@dg.multi_asset(
    name="gemini_activity",
    group_name="gemini",
    specs=[
        dg.AssetSpec(
            PROMPTS_KEY,
            kinds={"gemini", "duckdb"},
            description=PROMPTS.description + " Read from My Activity.json files under CHITTY_EXPORTS_DIR.",
        ),
        dg.AssetSpec(
            SESSIONS_KEY, kinds={"gemini", "duckdb"}, deps=[PROMPTS_KEY], description=SESSIONS.description
        ),
    ],
)
def gemini_activity(
    context: dg.AssetExecutionContext,
    config: GeminiSyncConfig,
    warehouse: WarehouseResource,
    local_sessions: LocalSessionsResource,
) -> Iterator[dg.MaterializeResult]:
    started = now()
    wh = warehouse.get()
    full = is_full_refresh(context, config)
    files = list(local_sessions.gemini_activity())
    rules = ActivityRules(tuple(config.headers), tuple(config.prompt_prefixes))
    out = sync_activity(
        wh,
        files,
        rules,
        run_id=context.run.run_id,
        full=full,
        gap_minutes=config.session_gap_minutes,
        batch_rows=config.batch_rows,
    )
    extra = {
        "exports_dir": local_sessions.exports_dir,
        "full_refresh": full,
        "files_seen": len(files),
        "files_read": out.files_read,
        "files_skipped": out.files_skipped,
        "items_read": out.items_read,
        "items_skipped": out.items_skipped,
        "session_gap_minutes": config.session_gap_minutes,
        "sessions_rebuilt": out.sessions_rebuilt,
    }
    prompt_stats = StreamStats(out.prompts_written, out.bytes_read, out.rejects, extra)
    session_stats = StreamStats(out.sessions_written, 0, 0, extra)
    for asset, stats in (("gemini_prompts", prompt_stats), ("gemini_sessions", session_stats)):
        log_sync(
            wh,
            context,
            platform=PLATFORM,
            asset=asset,
            started_at=started,
            status="success",
            stats=stats,
            full_refresh=full,
        )
    yield dg.MaterializeResult(asset_key=PROMPTS_KEY, metadata=table_metadata(wh, PROMPTS, prompt_stats))
    yield dg.MaterializeResult(asset_key=SESSIONS_KEY, metadata=table_metadata(wh, SESSIONS, session_stats))


def gemini_prompts_in_sessions(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
    wh = context.resources.warehouse.get()
    if not wh.table_exists(PROMPTS.schema, PROMPTS.name):
        return dg.AssetCheckResult(passed=True, metadata={"prompts_without_session": 0})
    missing = int(
        wh.scalar(
            f"SELECT count(*) FROM {PROMPTS.sql_name} p LEFT JOIN {SESSIONS.sql_name} s USING (session_id) "
            "WHERE s.session_id IS NULL"
        )
    )
    counted = int(wh.scalar(f"SELECT coalesce(sum(prompt_count), 0) FROM {SESSIONS.sql_name}"))
    prompts = wh.row_count(PROMPTS)
    return dg.AssetCheckResult(
        passed=missing == 0 and counted == prompts,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"prompts_without_session": missing, "prompts": prompts, "prompts_in_sessions": counted},
    )


GEMINI_ASSETS: list[dg.AssetsDefinition] = [gemini_activity]
# All four in one step (common.bundled_checks says why).
gemini_checks = bundled_checks(
    "gemini_checks",
    [
        Check(
            PROMPTS_KEY,
            "gemini_prompts_unique_key",
            unique_key_check(PROMPTS),
            "prompt_id is unique.",
            blocking=True,
        ),
        Check(
            SESSIONS_KEY,
            "gemini_sessions_unique_key",
            unique_key_check(SESSIONS),
            "session_id is unique.",
            blocking=True,
        ),
        Check(
            PROMPTS_KEY,
            "gemini_rejects",
            rejects_check(PLATFORM, [STREAM]),
            "Activity files or items that were rejected.",
        ),
        Check(
            SESSIONS_KEY,
            "gemini_prompts_in_sessions",
            gemini_prompts_in_sessions,
            "Every prompt belongs to a session and counts add up.",
        ),
    ],
    {"warehouse"},
)
GEMINI_CHECKS: list[dg.AssetChecksDefinition] = [gemini_checks]


# Resources come from the platform registry (definitions.py), one per resource key.
defs = dg.Definitions(
    assets=GEMINI_ASSETS,
    asset_checks=GEMINI_CHECKS,
)
