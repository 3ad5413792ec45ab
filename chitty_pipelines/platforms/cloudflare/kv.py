"""Workers KV: keys (with expiration and metadata) and values of the configured namespaces.

KV has no "modified since", so each sync lists every key (one call per 1,000) and diffs
``(expiration, metadata)`` with the stored rows. Values cost one API call each, so only new keys
and keys whose expiration or metadata changed are read, with bounded concurrency and under the
shared pacer. A value rewritten with identical metadata is invisible to a listing: writers that
want it picked up should put a version or timestamp in the metadata; a full refresh re-reads
every value. Keys missing from the listing are deleted from the table.
"""

import base64
import json
from datetime import UTC, datetime
from typing import Any

from chitty_pipelines.platforms.cloudflare.api_client import CloudflareApi
from chitty_pipelines.platforms.cloudflare.tables import KV_ENTRIES
from chitty_pipelines.warehouse import Warehouse


def canonical(metadata: Any) -> str | None:
    return None if metadata is None else json.dumps(metadata, sort_keys=True, separators=(",", ":"))


def stored_entries(warehouse: Warehouse, namespace_id: str) -> dict[str, tuple[float | None, str | None]]:
    if not warehouse.table_exists(KV_ENTRIES.schema, KV_ENTRIES.name):
        return {}
    found = warehouse.rows(
        f"SELECT key, epoch(expiration) AS exp, metadata FROM {KV_ENTRIES.sql_name} WHERE namespace_id = ?",
        [namespace_id],
    )
    # float(): the backends' epoch types differ (DuckDB: DOUBLE; a NUMERIC would be a Decimal)
    return {
        key: (None if exp is None else float(exp), None if meta is None else str(meta))
        for key, exp, meta in found
    }


def list_keys(api: CloudflareApi, namespace_id: str, page_size: int = 1000) -> list[dict[str, Any]]:
    keys: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        page, cursor = api.list_keys_page(namespace_id, cursor, page_size)
        keys.extend(page)
        if not cursor:
            return keys


def kv_row(namespace_id: str, item: dict[str, Any], value: bytes, now: datetime) -> dict[str, Any]:
    try:
        text, encoding = value.decode("utf-8"), "utf8"
    except UnicodeDecodeError:
        text, encoding = base64.b64encode(value).decode("ascii"), "base64"
    exp = item.get("expiration")
    return {
        "namespace_id": namespace_id,
        "key": item["name"],
        "expiration": datetime.fromtimestamp(exp, UTC) if exp is not None else None,
        "metadata": canonical(item.get("metadata")),
        "value": text,
        "value_encoding": encoding,
        "value_bytes": len(value),
        "synced_at": now,
    }
