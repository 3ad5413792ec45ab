"""Warehouse tables of the Cloudflare platform, and their asset keys."""

from __future__ import annotations

import dagster as dg

from chitty_pipelines.warehouse import TableSpec, cols

PLATFORM = "cloudflare"
KEY_PREFIX = "raw_cloudflare"
SCHEMA = "raw_cloudflare"

R2_OBJECTS = TableSpec(
    SCHEMA,
    "r2_objects",
    cols(
        ("bucket", "VARCHAR"),
        ("key", "VARCHAR"),
        ("size", "BIGINT", "bytes"),
        ("etag", "VARCHAR", "without quotes; not an MD5 for multipart uploads"),
        ("last_modified", "TIMESTAMPTZ"),
        ("storage_class", "VARCHAR"),
        ("content_type", "VARCHAR", "known only for objects whose content is synced (no HEAD per object)"),
        ("deleted", "BOOLEAN", "true once the object no longer appears in the listing (kept as a tombstone)"),
        ("change", "VARCHAR", "what the last sync that touched this row saw: new, changed or deleted"),
        ("changed_at", "TIMESTAMPTZ", "when that sync ran"),
        ("first_seen_at", "TIMESTAMPTZ"),
    ),
    primary_key=("bucket", "key"),
    description="Inventory of the configured R2 buckets, kept incrementally by diffing listings.",
)

R2_JSON_OBJECTS = TableSpec(
    SCHEMA,
    "r2_json_objects",
    cols(
        ("bucket", "VARCHAR"),
        ("key", "VARCHAR"),
        ("prefix", "VARCHAR", "the configured prefix the key matched"),
        ("etag", "VARCHAR"),
        ("size", "BIGINT"),
        ("content_type", "VARCHAR"),
        ("doc", "JSON", "the object's JSON content"),
        ("synced_at", "TIMESTAMPTZ"),
    ),
    primary_key=("bucket", "key"),
    description="Content of *.json objects under the configured prefixes, up to CLOUDFLARE_R2_JSON_MAX_BYTES",
)

KV_ENTRIES = TableSpec(
    SCHEMA,
    "kv_entries",
    cols(
        ("namespace_id", "VARCHAR"),
        ("key", "VARCHAR"),
        ("expiration", "TIMESTAMPTZ", "when the key expires, if it does"),
        ("metadata", "JSON", "the key's metadata as listed"),
        ("value", "VARCHAR", "the value as UTF-8 text, or base64 when value_encoding = 'base64'"),
        ("value_encoding", "VARCHAR", "utf8 or base64"),
        ("value_bytes", "BIGINT"),
        ("synced_at", "TIMESTAMPTZ", "when the value was last read"),
    ),
    primary_key=("namespace_id", "key"),
    description="Workers KV keys and values of the configured namespaces; deleted keys are removed.",
)

D1_ROWS = TableSpec(
    SCHEMA,
    "d1_rows",
    cols(
        ("database_id", "VARCHAR"),
        ("table_name", "VARCHAR"),
        ("row_key", "VARCHAR", "JSON array of the primary key values (or [rowid])"),
        ("row", "JSON", "the row as a JSON object, column -> value (BLOBs as byte arrays)"),
        ("cursor_value", "VARCHAR", "value of the table's cursor column, when it has one"),
        ("synced_at", "TIMESTAMPTZ"),
    ),
    primary_key=("database_id", "table_name", "row_key"),
    description="Rows of every user table of the configured D1 databases, raw JSON keyed by primary key.",
)

OBJECTS_KEY = dg.AssetKey([KEY_PREFIX, R2_OBJECTS.name])
JSON_KEY = dg.AssetKey([KEY_PREFIX, R2_JSON_OBJECTS.name])
KV_KEY = dg.AssetKey([KEY_PREFIX, KV_ENTRIES.name])
D1_KEY = dg.AssetKey([KEY_PREFIX, D1_ROWS.name])
