"""Seeds for the Cloudflare fakes (the v4 fake for KV and D1, an S3 server such as moto for R2):
the demo organisation's sessions, projects table and entity objects. Every value is fixed, so
the demo test can assert counts."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from chitty_pipelines.platforms.cloudflare.fake import FakeCloudflare

KV_NAMESPACE = "0f2ac74b498b48028cb68387c421e279"
D1_DATABASE = "9a1b2c3d-0000-4000-8000-00000000d1d1"
R2_BUCKET = "chitty-demo-data"


def seed_kv_and_d1(fake: FakeCloudflare, projects: Sequence[str]) -> None:
    """Workers KV (a session blob per project) and a D1 database with a projects table."""
    for n, name in enumerate(projects):
        fake.put_kv(KV_NAMESPACE, f"session:{name}", json.dumps({"project": name, "n": n}), metadata={"v": 1})
    fake.kv_titles[KV_NAMESPACE] = "chitty-demo-sessions"
    fake.d1_execute(
        D1_DATABASE,
        "CREATE TABLE projects (id INTEGER PRIMARY KEY, name TEXT NOT NULL, updated_at TEXT NOT NULL);",
    )
    fake.d1_execute(
        D1_DATABASE,
        "INSERT INTO projects (id, name, updated_at) VALUES (?, ?, ?)",
        [(n + 1, name, f"2026-10-0{n + 1}T00:00:00Z") for n, name in enumerate(projects)],
    )


def seed_r2(s3: Any, entities: Sequence[str]) -> None:
    """A bucket with one JSON object per entity under entities/ and one binary object."""
    # moto artefact: region "auto" needs the location constraint (real R2 does not).
    s3.create_bucket(Bucket=R2_BUCKET, CreateBucketConfiguration={"LocationConstraint": "auto"})
    for name in entities:
        s3.put_object(Bucket=R2_BUCKET, Key=f"entities/{name}.json", Body=json.dumps({"project": name}))
    s3.put_object(Bucket=R2_BUCKET, Key="blobs/logo.png", Body=b"\x89PNG\r\n\x1a\n" + bytes(32))
