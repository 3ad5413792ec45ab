"""Drive sync benchmark: 20,000 files behind the fake Drive with a fixed latency per request.

Measures, in one invocation:
* ours, full sync: the real ``raw_drive_sync`` asset (``dg.materialize``) into a fresh DuckDB
  warehouse: batched folder listing + start token + downloads of the small JSON files;
* ours, no-change re-sync, and a re-sync after k upstream changes;
* baseline: a plain recursive ``files.list`` walk with google-api-python-client (one query per
  folder, pageSize 1000, the same fields), which has no incremental mode, so a re-sync costs
  the same as a first sync.

``run(latency_s, smoke)`` is what ``bench/api_platforms/run.py`` calls; ``python -m
bench.api_platforms.bench_drive [--smoke]`` runs it alone and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import dagster as dg
import httplib2
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.oauth2 import service_account
from google_auth_httplib2 import AuthorizedHttp
from googleapiclient.discovery import build

from chitty_pipelines.kernel.fake_server import Faults
from chitty_pipelines.platforms.drive import assets as drive_assets
from chitty_pipelines.platforms.drive.fake import FOLDER, FakeDrive
from chitty_pipelines.platforms.drive.resource import SCOPES, DriveResource
from chitty_pipelines.platforms.drive.streams import FIELDS
from chitty_pipelines.warehouse.resource import WarehouseResource

ROOT = "0BbenchChittyosData"
SA_EMAIL = "bench@chitty-bench.iam.gserviceaccount.com"


def _key() -> tuple[str, Any]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return pem, key.public_key()


def seed(fake: FakeDrive, projects: int, subfolders: int, files_per_leaf: int) -> dict[str, int]:
    """projects/<p>/<s>/file-<n>: one JSON file in every 100 (whose content the sync reads)."""
    fake.add_folder("chittyos-data", file_id=ROOT)
    files = json_files = 0
    for p in range(projects):
        pid = fake.add_folder(f"project-{p:03d}", ROOT)
        for s in range(subfolders):
            sid = fake.add_folder(f"part-{s:02d}", pid)
            for n in range(files_per_leaf):
                if n % 100 == 0:
                    fake.add(f"state-{n:04d}.json", sid, content=f'{{"p": {p}, "s": {s}, "n": {n}}}',
                             mime_type="application/json")  # fmt: skip
                    json_files += 1
                else:
                    fake.add(
                        f"blob-{n:04d}.bin", sid, content=b"\x00" * 64, mime_type="application/octet-stream"
                    )
                files += 1
    return {"files": files, "folders": projects * (1 + subfolders), "json_files": json_files}


def _count(fake: FakeDrive) -> dict[str, int]:
    kinds: dict[str, int] = {}
    for key, n in fake.requests.items():
        _method, path = key.split(" ", 1)
        kind = "files.get(media)" if path.count("/") == 4 and path.startswith("/drive/v3/files/") else path
        kind = "files.get(root)" if path == f"/drive/v3/files/{ROOT}" else kind
        kind = {"/drive/v3/files": "files.list", "/drive/v3/changes": "changes.list", "/token": "token",
                "/drive/v3/changes/startPageToken": "changes.getStartPageToken"}.get(kind, kind)  # fmt: skip
        kinds[kind] = kinds.get(kind, 0) + n
    return dict(sorted(kinds.items()))


def _timed(fake: FakeDrive, fn: Any) -> dict[str, Any]:
    fake.reset_counters()
    started = time.perf_counter()
    out = fn()
    wall = time.perf_counter() - started
    return {
        "wall_s": round(wall, 3),
        "requests": fake.total_requests,
        "requests_by_kind": _count(fake),
        **(out or {}),
    }


def baseline_walk(fake: FakeDrive, sa_info: dict[str, Any]) -> dict[str, Any]:
    """The obvious client code: recurse folder by folder, following nextPageToken."""
    creds = service_account.Credentials.from_service_account_info(sa_info, scopes=SCOPES)
    service = build(
        "drive", "v3", http=AuthorizedHttp(creds, http=httplib2.Http(timeout=60)), static_discovery=True,
        client_options={"api_endpoint": f"{fake.base_url}/drive/v3/"},
    )  # fmt: skip
    found = 0
    stack = [ROOT]
    while stack:
        folder = stack.pop()
        request = service.files().list(
            q=f"'{folder}' in parents", pageSize=1000, fields=f"nextPageToken,files({FIELDS})"
        )
        while request is not None:
            page = request.execute(num_retries=3)
            for f in page.get("files", []):
                found += 1
                if f["mimeType"] == FOLDER:
                    stack.append(f["id"])
            request = service.files().list_next(request, page)
    return {"rows": found}


def _materialize(drive: DriveResource, wr: WarehouseResource) -> dict[str, Any]:
    result = dg.materialize(
        drive_assets.DRIVE_ASSETS,
        selection=dg.AssetSelection.all().without_checks(),  # the sync alone (checks run in its step)
        resources={"drive": drive, "warehouse": wr},
    )
    meta = {
        m.asset_key.to_user_string(): {k: v.value for k, v in m.metadata.items()}
        for m in result.asset_materializations_for_node("raw_drive_sync")
    }
    files, contents = meta["raw_drive/files"], meta["raw_drive/file_contents"]
    return {
        "rows": files["dagster/row_count"],
        "rows_written": files["rows_written"],
        "content_rows": contents["dagster/row_count"],
        "content_rows_written": contents["rows_written"],
        "mode": files["mode"],
        "sync_s": files["sync_seconds"],  # inside the asset: without Dagster's run overhead
        "api_requests_seen_by_client": files["api_requests"],
    }


def run(latency_s: float = 0.03, smoke: bool = False) -> dict[str, Any]:
    shape = (2, 5, 50) if smoke else (20, 10, 100)
    pem, public = _key()
    fake = FakeDrive(Faults(latency_s=latency_s))
    fake.start()
    try:
        fake.register_service_account(SA_EMAIL, public)
        inputs = seed(fake, *shape)
        sa_info = {"type": "service_account", "private_key": pem, "client_email": SA_EMAIL,
                   "token_uri": fake.token_uri, "private_key_id": "k"}  # fmt: skip
        drive = DriveResource(
            base_url=fake.base_url + "/", folder_id=ROOT, service_account_json=json.dumps(sa_info)
        )
        with tempfile.TemporaryDirectory() as tmp:
            wr = WarehouseResource(path=str(Path(tmp) / "bench.duckdb"), lock_timeout_s=60)
            full = _timed(fake, lambda: _materialize(drive, wr))
            resync = _timed(fake, lambda: _materialize(drive, wr))
            # k upstream changes: renames of k/2 files and content edits of k/2 JSON files.
            k = 10 if smoke else 50
            jsons = [f for f in fake.files.values() if f.mime_type == "application/json"][: k // 2]
            blobs = [f for f in fake.files.values() if f.name.startswith("blob-")][: k - len(jsons)]
            for f in jsons:
                fake.update(f.id, '{"edited": true}')
            for f in blobs:
                fake.rename(f.id, f.name + ".renamed")
            changed = _timed(fake, lambda: _materialize(drive, wr))
            # Like for like with the baseline: metadata only (contents off), fresh warehouse.
            meta_only = DriveResource(
                base_url=drive.base_url,
                folder_id=ROOT,
                service_account_json=json.dumps(sa_info),
                content_max_bytes=0,
            )
            wr2 = WarehouseResource(path=str(Path(tmp) / "bench-meta.duckdb"), lock_timeout_s=60)
            metadata_only = _timed(fake, lambda: _materialize(meta_only, wr2))
        baseline = _timed(fake, lambda: baseline_walk(fake, sa_info))
    finally:
        fake.stop()
    rows = full["rows"]
    full["rows_per_s"] = round(rows / full["wall_s"], 1)
    baseline["rows_per_s"] = round(baseline["rows"] / baseline["wall_s"], 1)
    return {
        "platform": "drive",
        "inputs": {**inputs, "latency_s": latency_s, "smoke": smoke, "k_changes": k},
        "ours_full_sync": full,
        "ours_resync_no_change": resync,
        "ours_resync_k_changes": changed,
        "ours_full_sync_metadata_only": metadata_only,
        "baseline_plain_walk": baseline,
        "ratios": {
            "full_requests_vs_baseline": round(full["requests"] / baseline["requests"], 3),
            "full_wall_vs_baseline": round(full["wall_s"] / baseline["wall_s"], 3),
            "metadata_only_requests_vs_baseline": round(metadata_only["requests"] / baseline["requests"], 3),
            "metadata_only_wall_vs_baseline": round(metadata_only["wall_s"] / baseline["wall_s"], 3),
            "resync_requests_vs_baseline": round(resync["requests"] / baseline["requests"], 4),
            "resync_wall_vs_baseline": round(resync["wall_s"] / baseline["wall_s"], 3),
        },
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "notes": "one process: peak RSS includes the fake server; our wall times include Dagster's "
        "run overhead; our full sync also downloads the JSON files (requests_by_kind).",
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--latency", type=float, default=0.03)
    args = parser.parse_args(argv)
    result = run(args.latency, args.smoke)
    root = Path(__file__).resolve().parents[1]
    out = root / (
        ".work/api_platforms_drive.smoke.json" if args.smoke else "results/api_platforms_drive.json"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    json.dump(result, sys.stdout, indent=2)
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
