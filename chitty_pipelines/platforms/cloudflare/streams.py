"""Cloudflare's three streams: R2 (inventory + JSON content), Workers KV and D1.

Each ``sync_*`` reads its service through the resource's clients, diffs with what the warehouse
holds, writes data and cursor in one transaction per bucket / namespace / batch of D1 pages, and
returns what it did as ``TableResult``s (a stream whose settings are missing returns
``TableResult.not_configured`` and makes no call). The service-level pieces live beside this file:
``r2.py`` (listing diff, JSON download), ``kv.py`` (key listing, rows), ``d1.py`` (keyset reads).
"""

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import dagster as dg

from chitty_pipelines.kernel.platform_asset import TableResult
from chitty_pipelines.platforms.cloudflare import d1, kv, r2
from chitty_pipelines.platforms.cloudflare.resource import CloudflareResource
from chitty_pipelines.platforms.cloudflare.tables import (
    D1_ROWS,
    KV_ENTRIES,
    PLATFORM,
    R2_JSON_OBJECTS,
    R2_OBJECTS,
)
from chitty_pipelines.warehouse import InvalidIdentifier, Reject, Warehouse, validate_identifier

Log = Callable[[str], None]


def _now() -> datetime:
    return datetime.now(UTC)


def sync_r2(
    cloudflare: CloudflareResource, wh: Warehouse, run_id: str, full: bool, log: Log
) -> list[TableResult]:
    """Inventory every configured bucket; load JSON objects under the configured prefixes.

    The two tables are one stream: a bucket's inventory and JSON content are written in one
    transaction, since the inventory diff decides which objects are downloaded again.
    """
    reason = cloudflare.r2_missing()
    if reason:
        return [
            TableResult.not_configured(R2_OBJECTS, reason),
            TableResult.not_configured(R2_JSON_OBJECTS, reason),
        ]
    client = cloudflare.r2()
    inv = TableResult(R2_OBJECTS, metadata={"new": 0, "changed": 0, "deleted": 0, "objects_listed": 0})
    js = TableResult(R2_JSON_OBJECTS, metadata={"objects_downloaded": 0})
    prefixes = list(cloudflare.r2_json_prefixes)
    for bucket in cloudflare.r2_buckets:
        now = _now()
        stored = r2.stored_inventory(wh, bucket)
        diff = r2.diff_bucket(client, bucket, stored, now)
        cursor = wh.cursors(PLATFORM, "r2_objects").get(bucket) or {}
        json_etags = r2.stored_json_etags(wh, bucket) if prefixes else {}
        prefixes_changed = sorted(prefixes) != sorted(cursor.get("json_prefixes", []))
        by_key = {r["key"]: r for r in diff.rows}
        todo = []
        for key, listed in diff.listed.items():
            prefix = r2.matching_prefix(key, prefixes)
            if prefix is None:
                continue
            unseen = prefixes_changed and json_etags.get(key) != listed[1]
            if full or key in by_key or unseen:
                todo.append((key, prefix, listed))
        json_rows, rejects, failed, bytes_read = r2.fetch_json(
            client, bucket, todo, cloudflare.r2_json_max_bytes, cloudflare.r2_concurrency
        )
        for row in json_rows:
            row["synced_at"] = now
        # History to keep: first_seen_at of changed objects, every column of deleted ones, and the
        # rows of unchanged objects whose content type the download just taught us.
        refreshed = [r["key"] for r in json_rows if r["key"] not in by_key]
        olds = r2.old_rows(wh, bucket, [k for k in by_key if k in stored] + diff.deleted_keys + refreshed)
        for key, row in by_key.items():
            if key in olds:
                row["first_seen_at"] = olds[key]["first_seen_at"]
        diff.rows.extend(r2.tombstone(olds[k], now) for k in diff.deleted_keys)
        for key in refreshed:
            by_key[key] = {c: olds[key].get(c) for c in R2_OBJECTS.column_names}
            diff.rows.append(by_key[key])
        for row in json_rows:
            by_key[row["key"]]["content_type"] = row["content_type"]
        gone = diff.deleted_keys + sorted(failed)
        with wh.transaction(run_id) as tx:
            tx.ensure(R2_OBJECTS)
            tx.ensure(R2_JSON_OBJECTS)
            inv.rows_written += tx.upsert(R2_OBJECTS, diff.rows)
            r2.delete_json(tx, bucket, gone)
            js.rows_written += tx.upsert(R2_JSON_OBJECTS, json_rows)
            js.rejects += tx.add_rejects(rejects)
            tx.set_cursor(
                PLATFORM,
                "r2_objects",
                bucket,
                {
                    "objects": len(diff.listed),
                    "json_prefixes": sorted(prefixes),
                    "synced_at": now.isoformat(),
                },
            )
        inv.metadata["new"] += diff.new
        inv.metadata["changed"] += diff.changed
        inv.metadata["deleted"] += len(diff.deleted_keys)
        inv.metadata["objects_listed"] += len(diff.listed)
        js.bytes_read += bytes_read
        downloads = sum(1 for _key, _prefix, listed in todo if listed[0] <= cloudflare.r2_json_max_bytes)
        js.metadata["objects_downloaded"] += downloads
        log(
            f"r2 {bucket}: {len(diff.listed)} listed, {diff.new} new, {diff.changed} changed, "
            f"{len(diff.deleted_keys)} deleted, {downloads} JSON downloaded, {len(rejects)} rejected"
        )
    inv.metadata["requests"] = client.requests
    inv.metadata["buckets"] = ", ".join(cloudflare.r2_buckets)
    js.metadata["prefixes"] = ", ".join(prefixes) or "(none configured)"
    return [inv, js]


def sync_kv(cloudflare: CloudflareResource, wh: Warehouse, run_id: str, full: bool, log: Log) -> TableResult:
    """List every key of each namespace, read the values of new and changed keys, drop the
    keys that are gone."""
    reason = cloudflare.kv_missing()
    if reason:
        return TableResult.not_configured(KV_ENTRIES, reason)
    api = cloudflare.api()
    result = TableResult(
        KV_ENTRIES, metadata={"keys_listed": 0, "values_read": 0, "new": 0, "changed": 0, "deleted": 0}
    )
    stats = result.metadata
    for ns in cloudflare.kv_namespace_ids:
        now = _now()
        stored = kv.stored_entries(wh, ns)
        listed = kv.list_keys(api, ns, cloudflare.kv_page_size)
        todo = []
        for item in listed:
            old = stored.get(item["name"])
            exp = item.get("expiration")
            current = (float(exp) if exp is not None else None, kv.canonical(item.get("metadata")))
            if old is None:
                stats["new"] += 1
            elif old != current:
                stats["changed"] += 1
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
                result.bytes_read += len(value)
                rows.append(kv.kv_row(ns, item, value, now))
        with wh.transaction(run_id) as tx:
            tx.ensure(KV_ENTRIES)
            if deleted:
                tx.con.execute(
                    f"DELETE FROM {KV_ENTRIES.sql_name} WHERE namespace_id = ? AND key IN (SELECT unnest(?))",
                    [ns, deleted],
                )
            result.rows_written += tx.upsert(KV_ENTRIES, rows)
            tx.set_cursor(PLATFORM, "kv_entries", ns, {"keys": len(listed), "synced_at": now.isoformat()})
        stats["keys_listed"] += len(listed)
        stats["values_read"] += len(rows)
        stats["deleted"] += len(deleted)
        log(f"kv {ns}: {len(listed)} keys listed, {len(rows)} values read, {len(deleted)} deleted")
    stats["api_requests"] = api.requests
    stats["namespaces"] = ", ".join(cloudflare.kv_namespace_ids)
    return result


def sync_d1(cloudflare: CloudflareResource, wh: Warehouse, run_id: str, full: bool, log: Log) -> TableResult:
    """Every user table of each database, by keyset pages (incremental on a cursor column)."""
    reason = cloudflare.d1_missing()
    if reason:
        return TableResult.not_configured(D1_ROWS, reason)
    api = cloudflare.api()
    result = TableResult(D1_ROWS, metadata={"tables": 0, "rows_read": 0})
    cursor_columns = [
        validate_identifier(c, "CLOUDFLARE_D1_CURSOR_COLUMNS entry") for c in cloudflare.d1_cursor_columns
    ]
    rejects: list[Reject] = []
    tables_md = []
    for db in cloudflare.d1_database_ids:
        _cols, names = api.d1_raw(db, d1.LIST_TABLES, [])
        for (name,) in names:
            try:
                plan = d1.plan_table(api, db, str(name), cursor_columns)
            except InvalidIdentifier as exc:  # a name we will not put in SQL text: skip the table
                rejects.append(Reject(PLATFORM, "d1_rows", f"d1://{db}", str(name), str(exc)))
                continue
            n = d1.sync_table(api, wh, run_id, db, plan, cloudflare.d1_page_rows, full, result)
            result.metadata["tables"] += 1
            result.metadata["rows_read"] += n
            mode = f"incremental on {plan.cursor}" if plan.cursor else "full"
            tables_md.append(f"| {db} | {plan.name} | {', '.join(plan.key)} | {mode} | {n} |")
            log(f"d1 {db}.{plan.name}: {n} rows read ({mode})")
    if rejects:
        with wh.transaction(run_id) as tx:
            result.rejects += tx.add_rejects(rejects)
    result.metadata["api_requests"] = api.requests
    result.metadata["tables_read"] = dg.MetadataValue.md(
        "| database | table | key | mode | rows read |\n|---|---|---|---|---|\n" + "\n".join(tables_md)
    )
    return result
