"""Notion sync: discover the tables, read each one's pages incrementally, write rows + cursor.

Table layout (schema ``raw_notion``), chosen to stay sane across any number of databases:

* ``pages``      one row per page of every synced table: common columns, the flattened property
                 values as JSON by property name, the property types, and the raw page JSON.
* ``databases``  one row per synced table (data source or database): title, schema, the typed
                 table that holds it, and how its property names map to column names.
* one typed table per table: ``evidence`` / ``cases`` for the ChittyLedger streams, otherwise
  ``ds_<id>`` (a 2025-09-03 data source) or ``db_<id>`` (a 2022-06-28 database). Named by id,
  not title, so a renamed database keeps its table (the lesson from dlt's title-named tables).
  Columns: page_id, table_id, database_id, created_time, last_edited_time, url, is_deleted, then
  one column per property (validated slugs; a date gives ``<name>_start``/``<name>_end``).

Incremental: a cursor per table in ``ops.sync_cursors`` (stream = pages|evidence|cases,
key = table id) holding the newest ``last_edited_time`` seen and the ids seen at that minute.
The next query asks ``on_or_after`` that minute (Notion truncates edit times to the minute) and
skips pages already seen at exactly that time. Rows and cursor commit in one transaction per table.
When a table's schema changes, its typed table is rebuilt from ``pages`` in that transaction.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from chitty_pipelines.kernel.platform_asset import TableResult
from chitty_pipelines.platforms.notion.properties import (
    TypedColumn,
    flatten_properties,
    normalize_id,
    page_title,
    parse_time,
    schema_fingerprint,
    typed_columns,
    typed_values,
)
from chitty_pipelines.platforms.notion.resource import NotionApi, NotionApiError, NotionResource, NotionTable
from chitty_pipelines.warehouse import Column, Reject, TableSpec, Transaction, Warehouse, cols

PLATFORM = "notion"
SCHEMA = "raw_notion"

PAGES = TableSpec(
    SCHEMA,
    "pages",
    cols(
        ("page_id", "VARCHAR", "lowercase dashed UUID"),
        ("table_id", "VARCHAR", "data source id (2025-09-03) or database id (2022-06-28)"),
        ("database_id", "VARCHAR"),
        ("stream", "VARCHAR", "pages, or the ChittyLedger stream (evidence, cases)"),
        ("title", "VARCHAR", "plain text of the title property, whatever its name"),
        ("url", "VARCHAR"),
        ("created_time", "TIMESTAMPTZ"),
        ("last_edited_time", "TIMESTAMPTZ", "minute precision (Notion truncates)"),
        ("created_by", "VARCHAR"),
        ("last_edited_by", "VARCHAR"),
        ("is_deleted", "BOOLEAN", "in_trash or archived"),
        ("properties", "JSON", "property name -> flattened value"),
        ("property_types", "JSON", "property name -> Notion property type"),
        ("raw", "JSON", "the page as the API returned it"),
    ),
    primary_key=("page_id",),
    description="Every synced Notion page, with its properties flattened into JSON by name.",
)

DATABASES = TableSpec(
    SCHEMA,
    "databases",
    cols(
        ("table_id", "VARCHAR"),
        ("database_id", "VARCHAR"),
        ("kind", "VARCHAR", "data_source or database"),
        ("stream", "VARCHAR"),
        ("title", "VARCHAR"),
        ("typed_table", "VARCHAR", "raw_notion table holding this table's typed rows"),
        ("api_version", "VARCHAR"),
        ("schema_properties", "JSON", "the property schema as the API returned it"),
        ("columns", "JSON", "typed column -> [property name, property type]"),
        ("last_edited_time", "TIMESTAMPTZ"),
        ("page_count", "BIGINT"),
    ),
    primary_key=("table_id",),
    description="The Notion tables (data sources or databases) that were synced.",
)

BASE_TYPED = cols(
    ("page_id", "VARCHAR"),
    ("table_id", "VARCHAR"),
    ("database_id", "VARCHAR"),
    ("created_time", "TIMESTAMPTZ"),
    ("last_edited_time", "TIMESTAMPTZ"),
    ("url", "VARCHAR"),
    ("is_deleted", "BOOLEAN"),
)

# The ChittyLedger streams: a typed table each, named after the stream, when its database is set.
LEDGER_VARS = {"evidence": "NOTION_EVIDENCE_DATABASE", "cases": "NOTION_CASES_DATABASE"}
STREAMS = ("pages", "databases", *LEDGER_VARS)


def ledger_spec(stream: str) -> TableSpec:
    """A ChittyLedger table as declared: the common columns; one more per property at run time."""
    return TableSpec(
        SCHEMA,
        stream,
        BASE_TYPED,
        primary_key=("page_id",),
        description=f"ChittyLedger {stream}: the pages of the {LEDGER_VARS[stream]} database, "
        "one typed column per property.",
    )


def typed_table_name(stream: str, table: NotionTable) -> str:
    if stream != "pages":
        return stream
    prefix = "ds" if table.kind == "data_source" else "db"
    # Ids are UUIDs, but the name reaches SQL: keep only identifier characters, whatever arrives.
    safe = re.sub(r"[^a-z0-9_]", "", table.table_id.lower())[:56]
    return f"{prefix}_{safe or hashlib.sha1(table.table_id.encode()).hexdigest()[:16]}"


def typed_spec(name: str, columns: list[TypedColumn]) -> TableSpec:
    return TableSpec(
        SCHEMA,
        name,
        BASE_TYPED + tuple(Column(c.name, c.type, f"{c.prop} ({c.ptype})") for c in columns),
        primary_key=("page_id",),
        description="One Notion table's pages with each property as a typed column.",
    )


@dataclass
class SyncReport:
    """What one sync did across all tables (accumulated table by table; ``results`` turns it
    into the kernel's one ``TableResult`` per asset)."""

    tables: list[dict[str, Any]] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    pages_read: int = 0
    pages_written: int = 0
    typed_tables: dict[str, str] = field(default_factory=dict)  # stream or table id -> table name


def discover(api: NotionApi, resource: NotionResource) -> tuple[list[tuple[str, NotionTable]], list[Reject]]:
    """``(stream, table)`` for every table to sync. ChittyLedger databases come first and keep
    their stream name even when they are also listed or found by search."""
    found: dict[str, tuple[str, NotionTable]] = {}
    rejects: list[Reject] = []

    def tables_of(database_id: str, variable: str) -> list[NotionTable]:
        try:
            return api.database_tables(database_id)
        except NotionApiError as exc:
            if exc.status not in (400, 404):
                raise
            # A configured database that is missing or not shared must not sink the other tables.
            rejects.append(
                Reject(
                    PLATFORM,
                    "databases",
                    variable,
                    database_id,
                    f"not readable: HTTP {exc.status} {exc.code}",
                )
            )
            return []

    for stream, db_id in resource.ledger_databases().items():
        for n, table in enumerate(tables_of(db_id, f"NOTION_{stream.upper()}_DATABASE")):
            # A database with several data sources: the first is the stream, the rest generic.
            found.setdefault(table.table_id, (stream if n == 0 else "pages", table))
    if resource.database_ids:
        for db_id in resource.database_ids:
            for table in tables_of(db_id, "NOTION_DATABASES"):
                found.setdefault(table.table_id, ("pages", table))
    else:
        for table in api.search_tables():
            found.setdefault(table.table_id, ("pages", table))
    return list(found.values()), rejects


def _page_row(page: dict[str, Any], table: NotionTable, stream: str) -> dict[str, Any]:
    props = page.get("properties") or {}
    flat = flatten_properties(props)
    return {
        "page_id": normalize_id(page["id"]),
        "table_id": table.table_id,
        "database_id": table.database_id,
        "stream": stream,
        "title": page_title(props),
        "url": page.get("url"),
        "created_time": parse_time(page.get("created_time")),
        "last_edited_time": parse_time(page.get("last_edited_time")),
        "created_by": normalize_id((page.get("created_by") or {}).get("id")),
        "last_edited_by": normalize_id((page.get("last_edited_by") or {}).get("id")),
        "is_deleted": bool(page.get("in_trash") or page.get("archived")),
        "properties": _dumps({k: v["value"] for k, v in flat.items()}),
        "property_types": _dumps({k: v["type"] for k, v in flat.items()}),
        "raw": _dumps(page),
        "_flat": flat,  # not a column: spares the typed table a JSON round trip
    }


def _dumps(value: Any) -> str:
    # orjson: the page JSON is most of a sync's CPU time; sorted keys keep stored text stable.
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def _typed_rows(
    page_rows: Iterable[dict[str, Any]], columns: list[TypedColumn], table_id: str, stream: str
) -> tuple[list[dict[str, Any]], list[Reject]]:
    rows, rejects = [], []
    for pr in page_rows:
        flat = pr.get("_flat")
        if flat is None:  # a stored page (typed table rebuild)
            types = orjson.loads(pr["property_types"])
            flat = {
                name: {"type": types.get(name), "value": v}
                for name, v in orjson.loads(pr["properties"]).items()
            }
        values = {name: entry["value"] for name, entry in flat.items()}
        typed, problems = typed_values(columns, flat)
        rows.append({**{c.name: pr[c.name] for c in BASE_TYPED}, **typed})
        for prop in problems:
            rejects.append(
                Reject(
                    PLATFORM,
                    stream,
                    table_id,
                    f"{pr['page_id']}:{prop}",
                    f"property {prop!r} does not fit its typed column; kept in pages.properties",
                    json.dumps(values.get(prop))[:300],
                )
            )
    return rows, rejects


def _is_seen(row: dict[str, Any], cursor: dict[str, Any]) -> bool:
    at = parse_time(cursor.get("last_edited_time"))
    return (
        at is not None and row["last_edited_time"] == at and row["page_id"] in set(cursor.get("ids_at") or [])
    )


def _advance(cursor: dict[str, Any], pages: list[tuple[str, dict[str, Any]]]) -> tuple[str | None, list[str]]:
    """New ``(last_edited_time, ids at that time)`` from the old cursor and the pages just read
    (``(api time string, row)`` pairs; the API's own string is kept to send back verbatim)."""
    best_text: str | None = cursor.get("last_edited_time")
    best: datetime | None = parse_time(best_text)
    ids: set[str] = set(cursor.get("ids_at") or [])
    for text, row in pages:
        t = row["last_edited_time"]
        if t is None:
            continue
        if best is None or t > best:
            best, best_text, ids = t, text, {row["page_id"]}
        elif t == best:
            ids.add(row["page_id"])
    return best_text, sorted(ids)


def sync_table(
    api: NotionApi,
    warehouse: Warehouse,
    stream: str,
    table: NotionTable,
    *,
    run_id: str | None,
    full_refresh: bool,
    report: SyncReport,
    cursor: dict[str, Any],
) -> None:
    cursor = {} if full_refresh else cursor
    since = cursor.get("last_edited_time")
    columns = typed_columns(table.properties)
    fingerprint = schema_fingerprint(columns)
    name = typed_table_name(stream, table)
    spec = typed_spec(name, columns)

    # Extract before the warehouse connection is opened: the DuckDB lock is held only to write.
    read: list[tuple[str, dict[str, Any]]] = []
    rejects: list[Reject] = []
    for page in api.query_pages(table, since):
        report.pages_read += 1
        try:
            read.append((str(page.get("last_edited_time")), _page_row(page, table, stream)))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            location = str(page.get("id")) if isinstance(page, dict) else "?"
            excerpt = json.dumps(page, default=str)[:300]
            rejects.append(
                Reject(PLATFORM, stream, table.table_id, location, f"unparseable page: {exc}", excerpt)
            )
    fresh = [row for _text, row in read if not _is_seen(row, cursor)]
    rebuild = full_refresh or cursor.get("schema") != fingerprint or cursor.get("typed_table") != name
    new_time, ids_at = _advance(cursor, read)

    with warehouse.transaction(run_id) as tx:
        tx.ensure(PAGES)  # an empty first table still leaves its tables behind
        if full_refresh:
            # Pages no longer returned (trashed, unshared) leave with a full refresh.
            tx.delete_where(PAGES, "table_id", [table.table_id])
        written = tx.upsert(PAGES, fresh)
        if rebuild:
            tx.con.execute(f"DROP TABLE IF EXISTS {spec.sql_name}")
            tx.ensure(spec)
            # Pages stored before a schema change must move to the new layout too; on a first
            # sync or a full refresh what was just read is everything there is.
            typed_source = _stored_pages(tx, table.table_id) if cursor else fresh
        else:
            typed_source = fresh
        typed, typed_rejects = _typed_rows(typed_source, columns, table.table_id, stream)
        tx.upsert(spec, typed)
        count = int(
            tx.con.execute(
                f"SELECT count(*) FROM {PAGES.sql_name} WHERE table_id = ?", [table.table_id]
            ).fetchone()[0]
        )
        tx.upsert(DATABASES, [_database_row(table, stream, name, columns, api.version, count)])
        tx.add_rejects([*rejects, *typed_rejects])
        tx.set_cursor(
            PLATFORM,
            stream,
            table.table_id,
            {"last_edited_time": new_time, "ids_at": ids_at, "schema": fingerprint, "typed_table": name},
        )
    report.pages_written += written
    report.rejects += [*rejects, *typed_rejects]
    report.typed_tables[stream if stream != "pages" else table.table_id] = name
    report.tables.append(
        {
            "table_id": table.table_id,
            "title": table.title,
            "stream": stream,
            "typed_table": f"{SCHEMA}.{name}",
            "pages_read": len(read),
            "pages_written": written,
            "rebuilt": rebuild,
        }
    )


def _all_cursors(warehouse: Warehouse) -> dict[tuple[str, str], dict[str, Any]]:
    found = warehouse.rows(
        "SELECT stream, cursor_key, cursor_value FROM ops.sync_cursors WHERE platform = ?", [PLATFORM]
    )
    return {(st, key): json.loads(v) for st, key, v in found}


def _stored_pages(tx: Transaction, table_id: str) -> list[dict[str, Any]]:
    names = [c.name for c in BASE_TYPED] + ["properties", "property_types"]
    select = ", ".join(f'"{n}"' for n in names)
    cur = tx.con.execute(
        f"SELECT {select} FROM {PAGES.sql_name} WHERE table_id = ? ORDER BY page_id", [table_id]
    )
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def _database_row(
    table: NotionTable, stream: str, name: str, columns: list[TypedColumn], version: str, count: int
) -> dict[str, Any]:
    return {
        "table_id": table.table_id,
        "database_id": table.database_id,
        "kind": table.kind,
        "stream": stream,
        "title": table.title,
        "typed_table": f"{SCHEMA}.{name}",
        "api_version": version,
        "schema_properties": json.dumps(table.properties, sort_keys=True, ensure_ascii=False),
        "columns": json.dumps({c.name: [c.prop, c.ptype] for c in columns}, ensure_ascii=False),
        "last_edited_time": parse_time(table.last_edited_time),
        "page_count": count,
    }


def sync_all(
    resource: NotionResource, warehouse: Warehouse, *, run_id: str | None, full_refresh: bool
) -> tuple[SyncReport, int]:
    """Sync every table; returns the report and the number of API requests made."""
    api = resource.api()
    report = SyncReport()
    try:
        tables, rejects = discover(api, resource)
        cursors = _all_cursors(warehouse)  # one connection for all tables, not one per table
        if rejects:
            with warehouse.transaction(run_id) as tx:
                tx.add_rejects(rejects)
            report.rejects += rejects
        for stream, table in tables:
            sync_table(
                api,
                warehouse,
                stream,
                table,
                run_id=run_id,
                full_refresh=full_refresh,
                report=report,
                cursor=cursors.get((stream, table.table_id), {}),
            )
    finally:
        api.close()
    return report, api.requests


def results(
    report: SyncReport, requests: int, resource: NotionResource, warehouse: Warehouse
) -> list[TableResult]:
    """One ``TableResult`` per asset: ``pages``, ``databases``, then the ledger streams (a stream
    whose database is not set, or could not be read, reports ``not_configured`` and why)."""
    by_stream = {s: sum(1 for r in report.rejects if r.stream == s) for s in STREAMS}
    out = [
        TableResult(
            PAGES,
            rows_written=report.pages_written,
            rejects=len(report.rejects),
            metadata={
                "api_version": resource.api_version,
                "tables_synced": len(report.tables),
                "pages_read": report.pages_read,
                "api_requests": requests,
                "tables": report.tables,
            },
        ),
        TableResult(DATABASES, rows_written=len(report.tables), rejects=by_stream["databases"]),
    ]
    configured = resource.ledger_databases()
    for stream, variable in LEDGER_VARS.items():
        table_name = report.typed_tables.get(stream)
        if stream not in configured or table_name is None:
            reason = (
                f"{variable} is not set"
                if stream not in configured
                else f"{variable} names a database that could not be read (see ops.rejects)"
            )
            out.append(TableResult.not_configured(ledger_spec(stream), reason))
            continue
        info = next(t for t in report.tables if t["stream"] == stream)
        out.append(
            TableResult(
                typed_spec_from_warehouse(warehouse, table_name),
                rows_written=info["pages_written"],
                rejects=by_stream[stream],
                metadata={
                    "table_id": info["table_id"],
                    "title": info["title"] or "",
                    "rebuilt": info["rebuilt"],
                },
            )
        )
    return out


def typed_spec_from_warehouse(warehouse: Warehouse, name: str) -> TableSpec:
    """The typed table's spec as it stands (its columns follow the Notion schema)."""
    found = warehouse.rows(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
        [SCHEMA, name],
    )
    types = {"TIMESTAMP WITH TIME ZONE": "TIMESTAMPTZ"}
    columns = cols(*((c, types.get(t, t)) for c, t in found))
    return TableSpec(SCHEMA, name, columns or BASE_TYPED, primary_key=("page_id",))
