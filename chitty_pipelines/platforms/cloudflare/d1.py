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
from datetime import datetime
from typing import Any

import dagster as dg

from chitty_pipelines.kernel import assets as common
from chitty_pipelines.kernel.assets import SyncConfig
from chitty_pipelines.platforms.cloudflare.api_client import CloudflareApi
from chitty_pipelines.platforms.cloudflare.resource import CloudflareResource
from chitty_pipelines.platforms.cloudflare.tables import (
    D1_ROWS,
    KEY_PREFIX,
    PLATFORM,
    finish_not_configured,
    finish_success,
)
from chitty_pipelines.warehouse import InvalidIdentifier, Reject, Warehouse, validate_identifier
from chitty_pipelines.warehouse.resource import WarehouseResource

D1_KEY = dg.AssetKey([KEY_PREFIX, "d1_rows"])
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
    stats: common.StreamStats,
) -> int:
    """Read one table page by page; returns rows read. Writes every FLUSH_PAGES pages."""
    stream_key = f"{db}/{plan.name}"
    saved = {} if full else (wh.cursors(PLATFORM, "d1_rows").get(stream_key) or {})
    incremental = bool(plan.cursor and saved.get("cursor_column") == plan.cursor and "high_water" in saved)
    now = common.now()
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


@dg.asset(
    key=D1_KEY,
    description=D1_ROWS.description,
    kinds={"cloudflare", "sqlite", "duckdb"},
    group_name=PLATFORM,
)
def d1_rows(
    context: dg.AssetExecutionContext,
    config: SyncConfig,
    cloudflare: CloudflareResource,
    warehouse: WarehouseResource,
) -> dg.MaterializeResult:
    wh = warehouse.get()
    started = common.now()
    reason = cloudflare.d1_missing()
    if reason:
        return finish_not_configured(context, wh, [D1_KEY], ["d1_rows"], reason, started)[0]
    full = common.is_full_refresh(context, config)
    api = cloudflare.api()
    stats = common.StreamStats(extra={"tables": 0, "rows_read": 0})
    cursor_columns = [
        validate_identifier(c, "CLOUDFLARE_D1_CURSOR_COLUMNS entry") for c in cloudflare.d1_cursor_columns
    ]
    rejects: list[Reject] = []
    tables_md = []
    for db in cloudflare.d1_database_ids:
        _cols, names = api.d1_raw(db, LIST_TABLES, [])
        for (name,) in names:
            try:
                plan = plan_table(api, db, str(name), cursor_columns)
            except InvalidIdentifier as exc:  # a name we will not put in SQL text: skip the table
                rejects.append(Reject(PLATFORM, "d1_rows", f"d1://{db}", str(name), str(exc)))
                continue
            n = sync_table(api, wh, context.run.run_id, db, plan, cloudflare.d1_page_rows, full, stats)
            stats.extra["tables"] += 1
            stats.extra["rows_read"] += n
            mode = f"incremental on {plan.cursor}" if plan.cursor else "full"
            tables_md.append(f"| {db} | {plan.name} | {', '.join(plan.key)} | {mode} | {n} |")
            context.log.info("d1 %s.%s: %d rows read (%s)", db, plan.name, n, mode)
    if rejects:
        with wh.transaction(context.run.run_id) as tx:
            stats.rejects += tx.add_rejects(rejects)
    stats.extra["api_requests"] = api.requests
    stats.extra["full_refresh"] = full
    stats.extra["tables_read"] = dg.MetadataValue.md(
        "| database | table | key | mode | rows read |\n|---|---|---|---|---|\n" + "\n".join(tables_md)
    )
    return finish_success(context, wh, D1_KEY, D1_ROWS, "d1_rows", stats, started, full)
