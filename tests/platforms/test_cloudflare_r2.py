"""R2 inventory and JSON content against moto's S3 server (the same boto3 calls real R2 gets)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

import pytest

from chitty_pipelines.platforms.cloudflare.tables import JSON_KEY, OBJECTS_KEY
from chitty_pipelines.warehouse import Warehouse
from chitty_pipelines.warehouse.resource import WarehouseResource
from tests.platforms.cloudflare_support import (
    OP,
    R2,
    R2_KEY_ID,
    R2_SECRET,
    create_bucket,
    failure_text,
    materialize,
    metadata,
    moto_server,
    resource,
    rows,
    s3,
)

PERSON = {"chittyId": "01-P-ABC", "type": "person", "name": "Ada"}
PLACE = {"chittyId": "02-L-XYZ", "type": "place", "tags": ["x", "y"]}


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with moto_server() as url:
        yield url


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def _seed(client: Any, bucket: str) -> dict[str, bytes]:
    create_bucket(client, bucket)
    objects = {
        "entities/person/01-P-ABC.json": json.dumps(PERSON).encode(),
        "entities/place/02-L-XYZ.json": json.dumps(PLACE).encode(),
        "entities/bad/03.json": b'{"chittyId": "03", broken',
        "entities/big/04.json": json.dumps({"blob": "x" * 400}).encode(),
        "logs/2026-11-24.txt": b"a log line\n",
        "notes.json": b'{"outside": "the prefix"}',
        "entities/readme.md": b"# not json",
    }
    for key, body in objects.items():
        ctype = "application/json" if key.endswith(".json") else "text/plain"
        client.put_object(Bucket=bucket, Key=key, Body=body, ContentType=ctype)
    return objects


def _r2(endpoint: str, bucket: str, prefixes: tuple[str, ...] = ("entities/",), **kw: Any):
    return resource(
        r2_endpoint_url=endpoint,
        r2_access_key_id=R2_KEY_ID,
        r2_secret_access_key=R2_SECRET,
        r2_buckets=[bucket],
        r2_json_prefixes=list(prefixes),
        r2_json_max_bytes=200,
        **kw,
    )


def _inventory(wh: Warehouse) -> list[tuple[Any, ...]]:
    return rows(
        wh,
        "SELECT key, size, etag, deleted, change, content_type FROM raw_cloudflare.r2_objects ORDER BY key",
    )


def test_inventory_json_content_and_rejects_are_exact(
    endpoint: str, warehouse_resource: WarehouseResource, warehouse: Warehouse
) -> None:
    objects = _seed(s3(endpoint), "inv-exact")
    result = materialize(R2, _r2(endpoint, "inv-exact", r2_list_page_size=3), warehouse_resource)
    downloaded = {"entities/person/01-P-ABC.json", "entities/place/02-L-XYZ.json"}
    assert _inventory(warehouse) == [
        (k, len(b), _md5(b), False, "new", "application/json" if k in downloaded else None)
        for k, b in sorted(objects.items())
    ]
    docs = rows(warehouse, "SELECT key, prefix, doc FROM raw_cloudflare.r2_json_objects ORDER BY key")
    assert [(k, p, json.loads(d)) for k, p, d in docs] == [
        ("entities/person/01-P-ABC.json", "entities/", PERSON),
        ("entities/place/02-L-XYZ.json", "entities/", PLACE),
    ]
    rejects = rows(
        warehouse, "SELECT location, reason FROM ops.rejects WHERE stream = 'r2_json_objects' ORDER BY 1"
    )
    assert [r[0] for r in rejects] == ["entities/bad/03.json", "entities/big/04.json"]
    assert rejects[0][1].startswith("invalid JSON") and "over the limit of 200" in rejects[1][1]
    inv_md, json_md = metadata(result, OBJECTS_KEY), metadata(result, JSON_KEY)
    assert (inv_md["dagster/row_count"], inv_md["new"], inv_md["objects_listed"]) == (7, 7, 7)
    # 7 keys at 3 a page: 3 list calls; 3 GETs (the oversize object is rejected from its listed size).
    assert inv_md["requests"] == 3 + 3
    assert (json_md["dagster/row_count"], json_md["rejects"]) == (2, 2)


def test_no_change_resync_lists_only_and_k_changes_cost_k(
    endpoint: str, warehouse_resource: WarehouseResource, warehouse: Warehouse
) -> None:
    client = s3(endpoint)
    _seed(client, "inv-incr")
    cf = _r2(endpoint, "inv-incr")
    materialize(R2, cf, warehouse_resource)
    before = _inventory(warehouse)

    again = materialize(R2, cf, warehouse_resource)
    md = metadata(again, OBJECTS_KEY)
    assert (md["requests"], md["rows_written"], md["new"], md["changed"], md["deleted"]) == (1, 0, 0, 0, 0)
    assert metadata(again, JSON_KEY)["objects_downloaded"] == 0
    assert _inventory(warehouse) == before

    changed_place = dict(PLACE, name="Lisbon")
    client.put_object(
        Bucket="inv-incr", Key="entities/place/02-L-XYZ.json", Body=json.dumps(changed_place).encode()
    )
    client.delete_object(Bucket="inv-incr", Key="entities/person/01-P-ABC.json")
    client.put_object(Bucket="inv-incr", Key="entities/person/05-P-NEW.json", Body=b'{"chittyId": "05"}')
    third = materialize(R2, cf, warehouse_resource)
    md = metadata(third, OBJECTS_KEY)
    assert (md["new"], md["changed"], md["deleted"], md["rows_written"]) == (1, 1, 1, 3)
    assert md["requests"] == 1 + 2  # one listing, two downloads
    inv = {r[0]: r for r in _inventory(warehouse)}
    assert inv["entities/person/01-P-ABC.json"][3:5] == (True, "deleted")  # tombstone kept
    assert inv["entities/place/02-L-XYZ.json"][4] == "changed"
    assert inv["entities/person/05-P-NEW.json"][3:5] == (False, "new")
    assert inv["logs/2026-11-24.txt"][4] == "new"  # untouched rows keep their last change
    docs = dict(rows(warehouse, "SELECT key, doc FROM raw_cloudflare.r2_json_objects"))
    assert {k: json.loads(v) for k, v in docs.items()} == {
        "entities/place/02-L-XYZ.json": changed_place,
        "entities/person/05-P-NEW.json": {"chittyId": "05"},
    }
    # The deleted object comes back: it is "new" again, not a second row.
    client.put_object(
        Bucket="inv-incr", Key="entities/person/01-P-ABC.json", Body=json.dumps(PERSON).encode()
    )
    materialize(R2, cf, warehouse_resource)
    again_inv = {r[0]: r for r in _inventory(warehouse)}
    assert again_inv["entities/person/01-P-ABC.json"][3:5] == (False, "new")
    assert warehouse.scalar("SELECT count(*) FROM raw_cloudflare.r2_objects") == 8


def test_full_refresh_redownloads_content_and_new_prefix_backfills(
    endpoint: str, warehouse_resource: WarehouseResource, warehouse: Warehouse
) -> None:
    _seed(s3(endpoint), "inv-full")
    cf = _r2(endpoint, "inv-full")
    materialize(R2, cf, warehouse_resource)
    full = materialize(
        R2,
        cf,
        warehouse_resource,
        run_config={"ops": {OP: {"config": {"full_refresh": True}}}},
    )
    assert metadata(full, JSON_KEY)["objects_downloaded"] == 3  # every entities/*.json under the size limit
    assert metadata(full, OBJECTS_KEY)["requests"] == 1 + 3
    # Adding a prefix later loads the matching objects that were already inventoried.
    wider = _r2(endpoint, "inv-full", prefixes=("entities/", "notes"))
    md = metadata(materialize(R2, wider, warehouse_resource), JSON_KEY)
    assert md["objects_downloaded"] == 2  # notes.json, and the bad object that has no content row yet
    assert warehouse.scalar("SELECT doc FROM raw_cloudflare.r2_json_objects WHERE key = 'notes.json'") == (
        '{"outside": "the prefix"}'
    )


def test_missing_bucket_is_a_clear_error(endpoint: str, warehouse_resource: WarehouseResource) -> None:
    result = materialize(R2, _r2(endpoint, "no-such-bucket"), warehouse_resource, raise_on_error=False)
    assert not result.success
    message = failure_text(result)
    assert "CLOUDFLARE_R2_BUCKETS" in message and R2_SECRET not in message and R2_KEY_ID not in message


def test_health_reports_reachable_buckets(endpoint: str) -> None:
    create_bucket(s3(endpoint), "inv-health")
    assert _r2(endpoint, "inv-health").r2_health() == {
        "ok": True,
        "configured": True,
        "reason": "1 bucket(s) reachable",
    }
    bad = _r2(endpoint, "inv-missing").r2_health()
    assert bad["ok"] is False and "CLOUDFLARE_R2_BUCKETS" in bad["reason"]


def test_refused_credentials_name_the_variables_and_hide_the_key() -> None:
    """moto does not check signatures, so the S3 error R2 sends is built here, as botocore raises it."""
    from botocore.exceptions import ClientError

    from chitty_pipelines.platforms.cloudflare.r2_client import R2AuthError, R2Error, _convert

    refused = ClientError(
        {
            "Error": {"Code": "InvalidAccessKeyId", "Message": f"The key {R2_KEY_ID} does not exist"},
            "ResponseMetadata": {"HTTPStatusCode": 403, "HTTPHeaders": {}},
        },
        "ListObjectsV2",
    )
    err = _convert("list bucket b", refused)
    assert isinstance(err, R2AuthError) and not err.retryable
    assert "CLOUDFLARE_R2_ACCESS_KEY_ID / CLOUDFLARE_R2_SECRET_ACCESS_KEY" in str(
        err
    ) and R2_KEY_ID not in str(err)
    slow = ClientError(
        {
            "Error": {"Code": "SlowDown", "Message": "Reduce your request rate"},
            "ResponseMetadata": {"HTTPStatusCode": 503, "HTTPHeaders": {"retry-after": "2"}},
        },
        "ListObjectsV2",
    )
    err = _convert("list bucket b", slow)
    assert isinstance(err, R2Error) and err.retryable and err.retry_after == 2.0


def test_history_of_rows_with_unknown_columns_stays_null(
    endpoint: str, warehouse_resource: WarehouseResource, warehouse: Warehouse
) -> None:
    """Stored rows whose storage class and times are NULL (rows an older version wrote), beside
    rows that have them: tombstones and the changed object's row keep NULL where it was (neither
    NaT nor NaN) and the stored times where they were. 300 deletions: more rows than a small
    upsert takes, so they go through Arrow, which cannot write a NaT."""
    client = s3(endpoint)
    create_bucket(client, "inv-nulls")
    logs = [f"logs/{i:04d}.txt" for i in range(300)]
    for key in [*logs, "entities/kept.json"]:
        client.put_object(Bucket="inv-nulls", Key=key, Body=b'{"v": 1}')
    cf = _r2(endpoint, "inv-nulls")
    materialize(R2, cf, warehouse_resource)
    unknown = [k for k in logs if int(k[5:9]) % 2] + ["entities/kept.json"]
    with warehouse.transaction() as tx:
        tx.con.execute(
            "UPDATE raw_cloudflare.r2_objects SET storage_class = NULL, changed_at = NULL, "
            "first_seen_at = NULL WHERE bucket = 'inv-nulls' AND key IN (SELECT unnest(?))",
            [unknown],
        )
    first_seen = dict(
        warehouse.rows("SELECT key, first_seen_at FROM raw_cloudflare.r2_objects WHERE bucket = 'inv-nulls'")
    )

    client.delete_objects(Bucket="inv-nulls", Delete={"Objects": [{"Key": k} for k in logs]})
    client.put_object(Bucket="inv-nulls", Key="entities/kept.json", Body=b'{"v": 2}')
    md = metadata(materialize(R2, cf, warehouse_resource), OBJECTS_KEY)
    assert (md["changed"], md["deleted"], md["rows_written"]) == (1, 300, 301)

    found = warehouse.records(
        "SELECT key, size, deleted, change, storage_class, changed_at, first_seen_at "
        "FROM raw_cloudflare.r2_objects WHERE bucket = 'inv-nulls' ORDER BY key"
    )
    kept, tombstones = found[0], found[1:]
    assert kept["key"] == "entities/kept.json"
    assert (kept["change"], kept["first_seen_at"], kept["size"]) == ("changed", None, len(b'{"v": 2}'))
    assert kept["changed_at"] is not None
    assert [t["key"] for t in tombstones] == logs
    assert {(t["deleted"], t["change"], t["size"]) for t in tombstones} == {(True, "deleted", 8)}
    assert all(t["changed_at"] is not None for t in tombstones)
    assert {t["key"]: t["first_seen_at"] for t in tombstones} == {k: first_seen[k] for k in logs}
    assert sum(t["first_seen_at"] is None for t in tombstones) == 150
    assert {t["storage_class"] is None for t in tombstones if t["key"] in unknown} == {True}
    assert None not in {t["storage_class"] for t in tombstones if t["key"] not in unknown}
