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
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import dagster as dg

from chitty_pipelines.kernel import assets as common
from chitty_pipelines.kernel.assets import SyncConfig
from chitty_pipelines.platforms.cloudflare.api_client import CloudflareApi
from chitty_pipelines.platforms.cloudflare.resource import CloudflareResource
from chitty_pipelines.platforms.cloudflare.tables import (
    KEY_PREFIX,
    KV_ENTRIES,
    PLATFORM,
    finish_not_configured,
    finish_success,
)
from chitty_pipelines.warehouse import Warehouse
from chitty_pipelines.warehouse.resource import WarehouseResource

KV_KEY = dg.AssetKey([KEY_PREFIX, "kv_entries"])


def _canonical(metadata: Any) -> str | None:
    return None if metadata is None else json.dumps(metadata, sort_keys=True, separators=(",", ":"))


def _stored(warehouse: Warehouse, namespace_id: str) -> dict[str, tuple[float | None, str | None]]:
    if not warehouse.table_exists(KV_ENTRIES.schema, KV_ENTRIES.name):
        return {}
    df = warehouse.query(
        f"SELECT key, epoch(expiration) AS exp, metadata FROM {KV_ENTRIES.sql_name} WHERE namespace_id = ?",
        [namespace_id],
    )
    out: dict[str, tuple[float | None, str | None]] = {}
    for key, exp, meta in zip(df["key"], df["exp"], df["metadata"], strict=True):
        out[key] = (None if exp is None or exp != exp else float(exp), None if meta is None else str(meta))
    return out


def list_keys(api: CloudflareApi, namespace_id: str, page_size: int = 1000) -> list[dict[str, Any]]:
    keys: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        page, cursor = api.list_keys_page(namespace_id, cursor, page_size)
        keys.extend(page)
        if not cursor:
            return keys


def _row(namespace_id: str, item: dict[str, Any], value: bytes, now: datetime) -> dict[str, Any]:
    try:
        text, encoding = value.decode("utf-8"), "utf8"
    except UnicodeDecodeError:
        text, encoding = base64.b64encode(value).decode("ascii"), "base64"
    exp = item.get("expiration")
    return {
        "namespace_id": namespace_id,
        "key": item["name"],
        "expiration": datetime.fromtimestamp(exp, UTC) if exp is not None else None,
        "metadata": _canonical(item.get("metadata")),
        "value": text,
        "value_encoding": encoding,
        "value_bytes": len(value),
        "synced_at": now,
    }


@dg.asset(
    key=KV_KEY,
    description=KV_ENTRIES.description,
    kinds={"cloudflare", "duckdb"},
    group_name=PLATFORM,
)
def kv_entries(
    context: dg.AssetExecutionContext,
    config: SyncConfig,
    cloudflare: CloudflareResource,
    warehouse: WarehouseResource,
) -> dg.MaterializeResult:
    wh = warehouse.get()
    started = common.now()
    reason = cloudflare.kv_missing()
    if reason:
        return finish_not_configured(context, wh, [KV_KEY], ["kv_entries"], reason, started)[0]
    full = common.is_full_refresh(context, config)
    api = cloudflare.api()
    stats = common.StreamStats(
        extra={"keys_listed": 0, "values_read": 0, "new": 0, "changed": 0, "deleted": 0}
    )
    for ns in cloudflare.kv_namespace_ids:
        now = common.now()
        stored = _stored(wh, ns)
        listed = list_keys(api, ns, cloudflare.kv_page_size)
        todo = []
        for item in listed:
            old = stored.get(item["name"])
            exp = item.get("expiration")
            current = (float(exp) if exp is not None else None, _canonical(item.get("metadata")))
            if old is None:
                stats.extra["new"] += 1
            elif old != current:
                stats.extra["changed"] += 1
            elif not full:
                continue
            todo.append(item)
        names = {i["name"] for i in listed}
        deleted = [k for k in stored if k not in names]

        def read(
            item: dict[str, Any], ns: str = ns
        ) -> tuple[dict[str, Any], tuple[bytes, float | None] | None]:
            return item, api.get_value(ns, item["name"])

        rows = []
        with ThreadPoolExecutor(max_workers=max(1, cloudflare.kv_concurrency)) as pool:
            for item, got in pool.map(read, todo):
                if got is None:  # deleted since listed
                    continue
                value, _expiration_header = got
                stats.bytes_read += len(value)
                rows.append(_row(ns, item, value, now))
        with wh.transaction(context.run.run_id) as tx:
            tx.ensure(KV_ENTRIES)
            if deleted:
                tx.con.execute(
                    f"DELETE FROM {KV_ENTRIES.sql_name} WHERE namespace_id = ? AND key IN (SELECT unnest(?))",
                    [ns, deleted],
                )
            stats.rows_written += tx.upsert(KV_ENTRIES, rows)
            tx.set_cursor(PLATFORM, "kv_entries", ns, {"keys": len(listed), "synced_at": now.isoformat()})
        stats.extra["keys_listed"] += len(listed)
        stats.extra["values_read"] += len(rows)
        stats.extra["deleted"] += len(deleted)
        context.log.info(
            "kv %s: %d keys listed, %d values read, %d deleted", ns, len(listed), len(rows), len(deleted)
        )
    stats.extra["api_requests"] = api.requests
    stats.extra["namespaces"] = ", ".join(cloudflare.kv_namespace_ids)
    stats.extra["full_refresh"] = full
    return finish_success(context, wh, KV_KEY, KV_ENTRIES, "kv_entries", stats, started, full)
