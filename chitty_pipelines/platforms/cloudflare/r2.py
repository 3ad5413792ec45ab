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

from chitty_pipelines.platforms.cloudflare.r2_client import R2Client, R2Error
from chitty_pipelines.platforms.cloudflare.tables import PLATFORM, R2_JSON_OBJECTS, R2_OBJECTS
from chitty_pipelines.warehouse import Reject, Warehouse

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


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


def stored_inventory(warehouse: Warehouse, bucket: str) -> dict[str, Stored]:
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


def old_rows(warehouse: Warehouse, bucket: str, keys: list[str]) -> dict[str, dict[str, Any]]:
    """Full stored rows of the few keys whose history must be kept (changed, deleted, re-read)."""
    if not keys:
        return {}
    # records, not a DataFrame: these rows are written back (tombstones, kept first_seen_at), and
    # pandas would turn a NULL time into NaT, which Arrow cannot write to a TIMESTAMPTZ column
    found = warehouse.records(
        f"SELECT * FROM {R2_OBJECTS.sql_name} WHERE bucket = ? AND key IN (SELECT unnest(?))", [bucket, keys]
    )
    return {r["key"]: r for r in found}


def stored_json_etags(warehouse: Warehouse, bucket: str) -> dict[str, str]:
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


def tombstone(old: dict[str, Any], now: datetime) -> dict[str, Any]:
    row = {c: old.get(c) for c in R2_OBJECTS.column_names}
    row.update(deleted=True, change="deleted", changed_at=now)
    return row


def matching_prefix(key: str, prefixes: list[str]) -> str | None:
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


def delete_json(tx: Any, bucket: str, keys: list[str]) -> None:
    if keys:
        tx.con.execute(
            f"DELETE FROM {R2_JSON_OBJECTS.sql_name} WHERE bucket = ? AND key IN (SELECT unnest(?))",
            [bucket, keys],
        )
