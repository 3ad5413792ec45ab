"""R2: an incremental object inventory per bucket, and the content of JSON objects under prefixes.

Incremental by manifest diff (R2 has no "modified since"): every sync lists the bucket (one call
per 1,000 keys) and compares ``(etag, size, last_modified)`` with the stored inventory. Only new,
changed and deleted objects are written, and only new or changed JSON objects are downloaded, so
a sync with no change makes list calls only. Deleted objects stay in the inventory with
``deleted = true`` (a tombstone, so downstream can see what disappeared and when); their JSON
content is removed. Content type is not in listings: it is recorded for objects whose content is
downloaded, never fetched with a HEAD per object (100k HEADs would cost more than the sync).
"""

import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import dagster as dg

from chitty_pipelines.kernel import assets as common
from chitty_pipelines.kernel.assets import SyncConfig
from chitty_pipelines.platforms.cloudflare.r2_client import R2Client, R2Error
from chitty_pipelines.platforms.cloudflare.resource import CloudflareResource
from chitty_pipelines.platforms.cloudflare.tables import (
    KEY_PREFIX,
    PLATFORM,
    R2_JSON_OBJECTS,
    R2_OBJECTS,
    finish_not_configured,
    finish_success,
)
from chitty_pipelines.warehouse import Reject, Warehouse
from chitty_pipelines.warehouse.resource import WarehouseResource

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
OBJECTS_KEY = dg.AssetKey([KEY_PREFIX, "r2_objects"])
JSON_KEY = dg.AssetKey([KEY_PREFIX, "r2_json_objects"])


def _us(ts: datetime) -> int:
    return (ts.astimezone(UTC) - _EPOCH) // timedelta(microseconds=1)


Listed = tuple[int, str, datetime]  # size, etag, last modified: what a listing says of an object
Stored = tuple[str, int, int, bool]  # etag, size, last modified (epoch µs), deleted


@dataclass
class BucketDiff:
    rows: list[dict[str, Any]] = field(default_factory=list)  # inventory rows to upsert
    listed: dict[str, Listed] = field(default_factory=dict)
    deleted_keys: list[str] = field(default_factory=list)
    new: int = 0
    changed: int = 0


def _stored_inventory(warehouse: Warehouse, bucket: str) -> dict[str, Stored]:
    """The comparison columns only, as tuples: a 100k-object inventory stays a few tens of MB."""
    if not warehouse.table_exists(R2_OBJECTS.schema, R2_OBJECTS.name):
        return {}
    with warehouse.connect() as con:
        found = con.execute(
            f"SELECT key, etag, size, epoch_us(last_modified), deleted FROM {R2_OBJECTS.sql_name} "
            "WHERE bucket = ?",
            [bucket],
        ).fetchall()
    return {key: (etag, int(size), int(lm_us), bool(deleted)) for key, etag, size, lm_us, deleted in found}


def _old_rows(warehouse: Warehouse, bucket: str, keys: list[str]) -> dict[str, dict[str, Any]]:
    """Full stored rows of the few keys whose history must be kept (changed, deleted, re-read)."""
    if not keys:
        return {}
    df = warehouse.query(
        f"SELECT * FROM {R2_OBJECTS.sql_name} WHERE bucket = ? AND key IN (SELECT unnest(?))", [bucket, keys]
    )
    return {r["key"]: r for r in df.to_dict("records")}


def _stored_json_etags(warehouse: Warehouse, bucket: str) -> dict[str, str]:
    if not warehouse.table_exists(R2_JSON_OBJECTS.schema, R2_JSON_OBJECTS.name):
        return {}
    with warehouse.connect() as con:
        found = con.execute(
            f"SELECT key, etag FROM {R2_JSON_OBJECTS.sql_name} WHERE bucket = ?", [bucket]
        ).fetchall()
    return dict(found)


def diff_bucket(client: R2Client, bucket: str, stored: dict[str, Stored], now: datetime) -> BucketDiff:
    """List the bucket and compare with the stored inventory. Rows of changed objects carry
    ``first_seen_at = now``; the caller restores it from the stored row."""
    diff = BucketDiff()
    for page in client.list_pages(bucket):
        for obj in page:
            key, etag, size = obj["Key"], str(obj.get("ETag", "")).strip('"'), int(obj.get("Size", 0))
            lm: datetime = obj["LastModified"]
            diff.listed[key] = (size, etag, lm)
            old = stored.get(key)
            if old is not None and not old[3] and old[:3] == (etag, size, _us(lm)):
                continue
            change = "new" if old is None or old[3] else "changed"
            diff.new += change == "new"
            diff.changed += change == "changed"
            diff.rows.append(
                {
                    "bucket": bucket,
                    "key": key,
                    "size": size,
                    "etag": etag,
                    "last_modified": lm,
                    "storage_class": obj.get("StorageClass"),
                    "content_type": None,
                    "deleted": False,
                    "change": change,
                    "changed_at": now,
                    "first_seen_at": now,
                }
            )
    diff.deleted_keys = [k for k, old in stored.items() if not old[3] and k not in diff.listed]
    return diff


def _tombstone(old: dict[str, Any], now: datetime) -> dict[str, Any]:
    row = {c: old.get(c) for c in R2_OBJECTS.column_names}
    row.update(deleted=True, change="deleted", changed_at=now)
    return row


def _matching_prefix(key: str, prefixes: list[str]) -> str | None:
    if not key.lower().endswith(".json"):
        return None
    return next((p for p in prefixes if key.startswith(p)), None)


def fetch_json(
    client: R2Client, bucket: str, keys: list[tuple[str, str, Listed]], max_bytes: int, workers: int
) -> tuple[list[dict[str, Any]], list[Reject], set[str], int]:
    """Download and parse ``(key, prefix, listed)``; returns rows, rejects, keys that yielded no
    row (their stale content must go), and bytes read."""
    rows: list[dict[str, Any]] = []
    rejects: list[Reject] = []
    failed: set[str] = set()
    source = f"r2://{bucket}"

    def one(item: tuple[str, str, Listed]) -> tuple[str, str, Listed, Any]:
        key, prefix, listed = item
        if listed[0] > max_bytes:
            return (
                key,
                prefix,
                listed,
                ("reject", f"object is {listed[0]} bytes, over the limit of {max_bytes}", ""),
            )
        try:
            return key, prefix, listed, client.get_object(bucket, key, max_bytes)
        except R2Error as exc:
            if exc.code in ("NoSuchKey", "404"):  # deleted since the listing; the next sync records it
                return key, prefix, listed, None
            raise

    bytes_read = 0
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for key, prefix, listed, got in pool.map(one, keys):
            if got is None:
                failed.add(key)
                continue
            if got[0] == "reject":
                failed.add(key)
                rejects.append(Reject(PLATFORM, "r2_json_objects", source, key, got[1]))
                continue
            data, content_type, etag = got
            bytes_read += len(data)
            if len(data) > max_bytes:
                failed.add(key)
                rejects.append(
                    Reject(PLATFORM, "r2_json_objects", source, key, f"object is over {max_bytes} bytes")
                )
                continue
            try:
                doc = json.loads(data)
            except ValueError as exc:  # UnicodeDecodeError is a ValueError too
                failed.add(key)
                excerpt = data[:300].decode("utf-8", "replace")
                rejects.append(
                    Reject(PLATFORM, "r2_json_objects", source, key, f"invalid JSON: {exc}", excerpt)
                )
                continue
            rows.append(
                {
                    "bucket": bucket,
                    "key": key,
                    "prefix": prefix,
                    "etag": etag or listed[1],
                    "size": len(data),
                    "content_type": content_type,
                    "doc": json.dumps(doc, ensure_ascii=False),
                }
            )
    return rows, rejects, failed, bytes_read


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            OBJECTS_KEY,
            description=R2_OBJECTS.description,
            kinds={"cloudflare", "s3", "duckdb"},
            group_name=PLATFORM,
        ),
        dg.AssetSpec(
            JSON_KEY,
            description=R2_JSON_OBJECTS.description,
            kinds={"cloudflare", "json", "duckdb"},
            group_name=PLATFORM,
        ),
    ],
    can_subset=False,
)
def r2_assets(
    context: dg.AssetExecutionContext,
    config: SyncConfig,
    cloudflare: CloudflareResource,
    warehouse: WarehouseResource,
):
    """Inventory every configured bucket; load JSON objects under the configured prefixes."""
    wh = warehouse.get()
    started = common.now()
    reason = cloudflare.r2_missing()
    if reason:
        yield from finish_not_configured(
            context, wh, [OBJECTS_KEY, JSON_KEY], ["r2_objects", "r2_json_objects"], reason, started
        )
        return
    full = common.is_full_refresh(context, config)
    client = cloudflare.r2()
    inv = common.StreamStats(extra={"new": 0, "changed": 0, "deleted": 0, "objects_listed": 0})
    js = common.StreamStats(extra={"objects_downloaded": 0})
    prefixes = list(cloudflare.r2_json_prefixes)
    for bucket in cloudflare.r2_buckets:
        now = common.now()
        stored = _stored_inventory(wh, bucket)
        diff = diff_bucket(client, bucket, stored, now)
        cursor = wh.cursors(PLATFORM, "r2_objects").get(bucket) or {}
        json_etags = _stored_json_etags(wh, bucket) if prefixes else {}
        prefixes_changed = sorted(prefixes) != sorted(cursor.get("json_prefixes", []))
        by_key = {r["key"]: r for r in diff.rows}
        todo = []
        for key, listed in diff.listed.items():
            prefix = _matching_prefix(key, prefixes)
            if prefix is None:
                continue
            unseen = prefixes_changed and json_etags.get(key) != listed[1]
            if full or key in by_key or unseen:
                todo.append((key, prefix, listed))
        json_rows, rejects, failed, bytes_read = fetch_json(
            client, bucket, todo, cloudflare.r2_json_max_bytes, cloudflare.r2_concurrency
        )
        for row in json_rows:
            row["synced_at"] = now
        # History to keep: first_seen_at of changed objects, every column of deleted ones, and the
        # rows of unchanged objects whose content type the download just taught us.
        refreshed = [r["key"] for r in json_rows if r["key"] not in by_key]
        olds = _old_rows(wh, bucket, [k for k in by_key if k in stored] + diff.deleted_keys + refreshed)
        for key, row in by_key.items():
            if key in olds:
                row["first_seen_at"] = olds[key]["first_seen_at"]
        diff.rows.extend(_tombstone(olds[k], now) for k in diff.deleted_keys)
        for key in refreshed:
            by_key[key] = {c: olds[key].get(c) for c in R2_OBJECTS.column_names}
            diff.rows.append(by_key[key])
        for row in json_rows:
            by_key[row["key"]]["content_type"] = row["content_type"]
        gone = diff.deleted_keys + sorted(failed)
        with wh.transaction(context.run.run_id) as tx:
            tx.ensure(R2_OBJECTS)
            tx.ensure(R2_JSON_OBJECTS)
            inv.rows_written += tx.upsert(R2_OBJECTS, diff.rows)
            _delete_json(tx, bucket, gone)
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
        inv.extra["new"] += diff.new
        inv.extra["changed"] += diff.changed
        inv.extra["deleted"] += len(diff.deleted_keys)
        inv.extra["objects_listed"] += len(diff.listed)
        js.bytes_read += bytes_read
        downloads = sum(1 for _key, _prefix, listed in todo if listed[0] <= cloudflare.r2_json_max_bytes)
        js.extra["objects_downloaded"] += downloads
        context.log.info(
            "r2 %s: %d listed, %d new, %d changed, %d deleted, %d JSON downloaded, %d rejected",
            bucket,
            len(diff.listed),
            diff.new,
            diff.changed,
            len(diff.deleted_keys),
            downloads,
            len(rejects),
        )
    inv.extra["requests"] = client.requests
    inv.extra["buckets"] = ", ".join(cloudflare.r2_buckets)
    inv.extra["full_refresh"] = full
    js.extra["prefixes"] = ", ".join(prefixes) or "(none configured)"
    for asset, table, stats in (("r2_objects", R2_OBJECTS, inv), ("r2_json_objects", R2_JSON_OBJECTS, js)):
        key = OBJECTS_KEY if asset == "r2_objects" else JSON_KEY
        yield finish_success(context, wh, key, table, asset, stats, started, full)


def _delete_json(tx: Any, bucket: str, keys: list[str]) -> None:
    if keys:
        tx.con.execute(
            f"DELETE FROM {R2_JSON_OBJECTS.sql_name} WHERE bucket = ? AND key IN (SELECT unnest(?))",
            [bucket, keys],
        )
