"""D1: every user table of the configured databases, read through the ``raw`` query endpoint.

Reads page by keyset, never OFFSET (OFFSET re-scans the skipped rows, and every rows_read counts
against D1's limits): ``WHERE (k1, k2) > (?, ?) ORDER BY k1, k2 LIMIT n`` on the primary key, or
on ``rowid`` for tables without one. A table with a cursor column (``CLOUDFLARE_D1_CURSOR_COLUMNS``,
default ``updated_at``) is incremental: the sync resumes at ``cursor >= high-water mark`` (the
rows at the mark are re-read, since several rows can share a timestamp) and upserts by key.
Rows whose cursor is NULL are read on a table's first sync and on full refreshes. Tables without a
cursor column are re-read in full each sync, and their rows that no longer exist are removed;
deletes in incremental tables are seen on a full refresh.
"""

import json
from datetime import UTC, datetime
from typing import Any

from chitty_pipelines.kernel.platform_asset import TableResult
from chitty_pipelines.platforms.cloudflare.api_client import CloudflareApi
from chitty_pipelines.platforms.cloudflare.tables import D1_ROWS, PLATFORM
from chitty_pipelines.warehouse import Warehouse, validate_identifier

ROWID = "__chitty_rowid"
FLUSH_PAGES = 10  # pages per warehouse transaction: bounded memory, cursor saved with its data
LIST_TABLES = (
    "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' "
    "AND name NOT LIKE '\\_cf\\_%' ESCAPE '\\' ORDER BY name"
)


def _q(name: str) -> str:
    return '"' + validate_identifier(name, "D1 identifier") + '"'


class TablePlan:
    """How one D1 table is read: its keyset columns and its optional cursor column."""

    def __init__(self, name: str, columns: list[str], pk: list[str], cursor: str | None):
        self.name, self.columns, self.cursor = name, columns, cursor
        self.key = pk or [ROWID]
        self.select = f"SELECT {'*' if pk else f'rowid AS {ROWID}, *'} FROM {_q(name)}"

    def _expr(self, col: str) -> str:
        return "rowid" if col == ROWID else _q(col)

    def page_sql(self, where: list[str], order: list[str], limit: int) -> str:
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        return f"{self.select}{clause} ORDER BY {', '.join(self._expr(c) for c in order)} LIMIT {int(limit)}"

    def after(self, order: list[str]) -> str:
        """Keyset condition: strictly after the last row read, in ``order``."""
        return f"({', '.join(self._expr(c) for c in order)}) > ({', '.join('?' for _ in order)})"


def plan_table(api: CloudflareApi, db: str, name: str, cursor_columns: list[str]) -> TablePlan:
    _cols, info = api.d1_raw(db, f"PRAGMA table_info({_q(name)})", [])
    # table_info rows: cid, name, type, notnull, dflt_value, pk (1-based position in the key)
    columns = [str(r[1]) for r in info]
    for c in columns:
        validate_identifier(c, "D1 column")
    pk = [str(r[1]) for r in sorted((r for r in info if r[5]), key=lambda r: r[5])]
    cursor = next((c for c in cursor_columns if c in columns), None)
    return TablePlan(name, columns, pk, cursor)


def _rows(
    plan: TablePlan, db: str, columns: list[str], data: list[list[Any]], now: datetime
) -> list[dict[str, Any]]:
    out = []
    for values in data:
        row = dict(zip(columns, values, strict=True))
        key = [row[k] for k in plan.key]
        row.pop(ROWID, None)
        out.append(
            {
                "database_id": db,
                "table_name": plan.name,
                "row_key": json.dumps(key, separators=(",", ":")),
                "row": json.dumps(row, ensure_ascii=False),
                "cursor_value": None
                if not plan.cursor or row[plan.cursor] is None
                else str(row[plan.cursor]),
                "synced_at": now,
            }
        )
    return out


def sync_table(
    api: CloudflareApi,
    wh: Warehouse,
    run_id: str,
    db: str,
    plan: TablePlan,
    page_rows: int,
    full: bool,
    stats: TableResult,
) -> int:
    """Read one table page by page; returns rows read. Writes every FLUSH_PAGES pages."""
    stream_key = f"{db}/{plan.name}"
    saved = {} if full else (wh.cursors(PLATFORM, "d1_rows").get(stream_key) or {})
    incremental = bool(plan.cursor and saved.get("cursor_column") == plan.cursor and "high_water" in saved)
    now = datetime.now(UTC)
    # (WHERE condition, its params, keyset order) per phase. NULL cursors sort first and make
    # row-value comparisons NULL, so they are read in a phase of their own, keyed on the key alone.
    phases: list[tuple[str, list[Any], list[str]]] = []
    if plan.cursor and incremental:
        phases.append((f"{_q(plan.cursor)} >= ?", [saved["high_water"]], [plan.cursor, *plan.key]))
    elif plan.cursor:
        phases.append((f"{_q(plan.cursor)} IS NULL", [], plan.key))
        phases.append((f"{_q(plan.cursor)} IS NOT NULL", [], [plan.cursor, *plan.key]))
    else:
        phases.append(("", [], plan.key))
    total, pending, pages = 0, [], 0
    high_water = saved.get("high_water") if incremental else None

    def flush() -> None:
        nonlocal pending
        with wh.transaction(run_id) as tx:
            tx.ensure(D1_ROWS)
            stats.rows_written += tx.upsert(D1_ROWS, pending)
            state: dict[str, Any] = {"cursor_column": plan.cursor, "synced_at": now.isoformat()}
            if plan.cursor and high_water is not None:
                state["high_water"] = high_water
            tx.set_cursor(PLATFORM, "d1_rows", stream_key, state)
        pending = []

    for where, params, order in phases:
        last: list[Any] | None = None
        while True:
            conditions = [where] if where else []
            args = list(params)
            if last is not None:
                conditions.append(plan.after(order))
                args += last
            columns, data = api.d1_raw(db, plan.page_sql(conditions, order, page_rows), args)
            if not data:
                break
            rows = _rows(plan, db, columns, data, now)
            pending.extend(rows)
            total += len(data)
            stats.bytes_read += sum(len(r["row"]) for r in rows)
            last_row = dict(zip(columns, data[-1], strict=True))
            last = [last_row[c] for c in order]
            if plan.cursor and order[0] == plan.cursor:
                high_water = last_row[plan.cursor]
            pages += 1
            if pages % FLUSH_PAGES == 0:
                flush()
            if len(data) < page_rows:
                break
    flush()
    if not plan.cursor or full:
        # A full read saw every row that exists: rows not touched by it are gone upstream.
        with wh.transaction(run_id) as tx:
            tx.con.execute(
                f"DELETE FROM {D1_ROWS.sql_name} WHERE database_id = ? AND table_name = ? AND synced_at < ?",
                [db, plan.name, now],
            )
    return total
