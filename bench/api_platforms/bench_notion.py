"""Notion sync benchmark: 5,000 pages in 10 databases behind the fake Notion API, every request
delayed by ``latency_s`` (30 ms by default).

Measured in one invocation, all against the same fake:

* ours, full sync: the real ``notion_sync`` multi-asset (``dg.materialize``) into a fresh DuckDB
  warehouse: discovery by search, every page of every data source, flattened into
  ``raw_notion.pages`` and one typed table per data source;
* ours, no-change re-sync (one query per data source, nothing written);
* ours, re-sync after k edited pages;
* baseline: a plain full query of every database with notion-client
  (``collect_paginated_api(client.data_sources.query, ...)`` after ``databases.retrieve``), the
  way a script without state reads the same pages. Without a cursor a re-sync costs what a full
  read costs, so the baseline is measured once and stands for both.

Client-side pacing is off in every run (``rate_per_s=0``): at Notion's 3 requests/s the wall
time is the request count divided by 3, reported as ``paced_wall_s_at_3_rps``.

``run(latency_s, smoke)`` is what bench/api_platforms/run.py calls;
``python -m bench.api_platforms.bench_notion [--smoke]`` runs it alone.
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dagster as dg
from notion_client import Client
from notion_client.helpers import collect_paginated_api

from chitty_pipelines.kernel.fake_server import Faults
from chitty_pipelines.platforms.notion import assets as notion_assets
from chitty_pipelines.platforms.notion.fake import FakeNotion, rich
from chitty_pipelines.platforms.notion.resource import NotionResource
from chitty_pipelines.warehouse.resource import WarehouseResource

TOKEN = "secret_bench_notion"
PACE = 3.0  # Notion's documented average, requests/s

SCHEMA: dict[str, dict[str, Any]] = {
    "Name": {"type": "title"},
    "Notes": {"type": "rich_text"},
    "Points": {"type": "number"},
    "Stage": {"type": "status"},
    "Kind": {"type": "select"},
    "Tags": {"type": "multi_select"},
    "Due": {"type": "date"},
    "Done": {"type": "checkbox"},
    "Link": {"type": "url"},
    "Score": {"type": "formula"},
}


def _props(db: int, n: int) -> dict[str, dict[str, Any]]:
    return {
        "Name": {"type": "title", "title": rich(f"db{db} page {n}")},
        "Notes": {"type": "rich_text", "rich_text": rich(f"notes for {n} " * 3)},
        "Points": {"type": "number", "number": n % 13},
        "Stage": {"type": "status", "status": {"name": ["Todo", "Doing", "Done"][n % 3]}},
        "Kind": {"type": "select", "select": {"name": f"k{n % 5}"}},
        "Tags": {"type": "multi_select", "multi_select": [{"name": "a"}, {"name": f"t{n % 7}"}]},
        "Due": {"type": "date", "date": {"start": f"2025-{n % 12 + 1:02d}-{n % 28 + 1:02d}", "end": None}},
        "Done": {"type": "checkbox", "checkbox": n % 2 == 0},
        "Link": {"type": "url", "url": f"https://example.com/{db}/{n}"},
        "Score": {"type": "formula", "formula": {"type": "number", "number": n * 1.5}},
    }


def seed(fake: FakeNotion, databases: int, pages_per_db: int) -> list[str]:
    """Pages edited one minute apart (Notion's precision), oldest first. Returns page ids."""
    ids = []
    for d in range(databases):
        db = fake.add_database(f"Bench {d}", SCHEMA)
        for n in range(pages_per_db):
            minute = d * pages_per_db + n
            at = f"2025-01-{1 + minute // 1440:02d}T{minute // 60 % 24:02d}:{minute % 60:02d}:00.000Z"
            ids.append(fake.add_page(db.id, _props(d, n), at).id)
    return ids


def _measure(fake: FakeNotion, fn: Callable[[], Any]) -> tuple[dict[str, Any], Any]:
    fake.reset_counters()
    started = time.perf_counter()
    value = fn()
    wall = time.perf_counter() - started
    out = {
        "wall_s": round(wall, 3),
        "requests": fake.total_requests,
        "query_requests": fake.query_requests(),
        "pages_served": sum(fake.served_pages.values()),
        "paced_wall_s_at_3_rps": round(fake.total_requests / PACE, 1),
    }
    return out, value


def _sync(notion: NotionResource, wh: WarehouseResource) -> dict[str, Any]:
    result = dg.materialize(
        [notion_assets.notion_sync],
        selection=dg.AssetSelection.all().without_checks(),  # the sync alone (checks run in its step)
        resources={"notion": notion, "warehouse": wh},
    )
    assert result.success
    for event in result.get_asset_materialization_events():
        if event.asset_key == notion_assets.PAGES_KEY:
            md = event.materialization.metadata
            return {"rows_written": md["rows_written"].value, "row_count": md["dagster/row_count"].value}
    raise RuntimeError("no pages materialization")


def _baseline(base_url: str) -> int:
    """notion-client's own paginated query of every database; returns pages read."""
    client = Client(auth=TOKEN, base_url=base_url, retry=False)
    try:
        found = collect_paginated_api(client.search, filter={"property": "object", "value": "data_source"})
        pages = 0
        for ds in found:
            db = client.databases.retrieve(database_id=ds["parent"]["database_id"])
            for source in db["data_sources"]:
                pages += len(collect_paginated_api(client.data_sources.query, data_source_id=source["id"]))
        return pages
    finally:
        client.close()


def run(latency_s: float = 0.03, smoke: bool = False) -> dict[str, Any]:
    databases, per_db, k = (2, 100, 10) if smoke else (10, 500, 50)
    fake = FakeNotion(token=TOKEN, faults=Faults(latency_s=latency_s))
    page_ids = seed(fake, databases, per_db)
    with tempfile.TemporaryDirectory() as tmp, fake:
        notion = NotionResource(token=TOKEN, base_url=fake.base_url, rate_per_s=0)
        wh = WarehouseResource(path=str(Path(tmp) / "bench.duckdb"))
        full, full_rows = _measure(fake, lambda: _sync(notion, wh))
        no_change, nc_rows = _measure(fake, lambda: _sync(notion, wh))
        step = max(1, len(page_ids) // k)
        edited = page_ids[::step][:k]
        for page_id in edited:
            fake.edit_page(page_id, {"Points": {"type": "number", "number": 99}}, "2025-12-01T00:00:00.000Z")
        k_changes, k_rows = _measure(fake, lambda: _sync(notion, wh))
        baseline, baseline_pages = _measure(fake, lambda: _baseline(fake.base_url))
    full.update(full_rows)
    no_change.update(nc_rows)
    k_changes.update(k_rows)
    full["pages_per_s"] = round(full_rows["rows_written"] / full["wall_s"], 1)
    baseline["pages_read"] = baseline_pages
    baseline["pages_per_s"] = round(baseline_pages / baseline["wall_s"], 1)
    return {
        "inputs": {
            "databases": databases,
            "pages": databases * per_db,
            "page_size": 100,
            "latency_s": latency_s,
            "k_edited": k,
            "properties_per_page": len(SCHEMA),
        },
        "ours_full_sync": full,
        "ours_no_change_resync": no_change,
        "ours_k_changes_resync": k_changes,
        "baseline_notion_client_full_query": baseline,
        "ratios": {
            "full_wall_vs_baseline": round(full["wall_s"] / baseline["wall_s"], 2),
            "full_requests_vs_baseline": round(full["requests"] / baseline["requests"], 2),
            "no_change_requests_vs_baseline": round(no_change["requests"] / baseline["requests"], 3),
            "no_change_wall_vs_baseline": round(no_change["wall_s"] / baseline["wall_s"], 3),
        },
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--latency", type=float, default=0.03)
    args = parser.parse_args()
    print(json.dumps(run(args.latency, args.smoke), indent=2))


if __name__ == "__main__":
    main()
