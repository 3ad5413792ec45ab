"""The ``ops`` schema: sync cursors, rejects and the sync log that every platform shares."""

from __future__ import annotations

from chitty_pipelines.warehouse.tables import TableSpec, cols

SYNC_CURSORS = TableSpec(
    "ops",
    "sync_cursors",
    cols(
        ("platform", "VARCHAR"),
        ("stream", "VARCHAR"),
        ("cursor_key", "VARCHAR", "what the cursor is for: a file path, a table, a database"),
        ("cursor_value", "JSON", "platform-specific position: offset, updated-at, page token, ETag"),
        ("updated_at", "TIMESTAMPTZ"),
    ),
    primary_key=("platform", "stream", "cursor_key"),
    description="Where each stream's last sync stopped; written in the same transaction as its data.",
)

REJECTS = TableSpec(
    "ops",
    "rejects",
    cols(
        (
            "reject_id",
            "VARCHAR",
            "hash of platform, stream, source and location: a re-read is not a new reject",
        ),
        ("platform", "VARCHAR"),
        ("stream", "VARCHAR"),
        ("source", "VARCHAR", "file, table or URL the record came from"),
        ("location", "VARCHAR", "line number, row key or page"),
        ("reason", "VARCHAR"),
        ("excerpt", "VARCHAR", "first characters of the bad record"),
        ("run_id", "VARCHAR"),
        ("rejected_at", "TIMESTAMPTZ"),
    ),
    primary_key=("reject_id",),
    description="Records that could not be ingested. A bad record never fails a sync; it lands here.",
)

SYNC_LOG = TableSpec(
    "ops",
    "sync_log",
    cols(
        ("run_id", "VARCHAR"),
        ("platform", "VARCHAR"),
        ("asset", "VARCHAR"),
        ("started_at", "TIMESTAMPTZ"),
        ("finished_at", "TIMESTAMPTZ"),
        ("status", "VARCHAR", "success, not_configured or failed"),
        ("rows_written", "BIGINT"),
        ("bytes_read", "BIGINT"),
        ("rejects", "BIGINT"),
        ("full_refresh", "BOOLEAN"),
        ("message", "VARCHAR"),
    ),
    primary_key=("run_id", "asset"),
    description="One row per asset per run: what `chitty-sync status` reports as the last sync.",
)

OPS_TABLES: tuple[TableSpec, ...] = (SYNC_CURSORS, REJECTS, SYNC_LOG)
