"""unified/projects, unified/sessions and the topic assets on a synthetic history of N Claude
Code sessions (N=1,685 by default, the size measured in issue 11): a first run, a run with
nothing changed, and a run after K sessions changed. Writes a JSON result with rows written and
wall time per asset and run.

    .venv/bin/python bench/unified_incremental/run.py [--sessions 1685] [--changed 5] [--out FILE]

Runs against whatever ``chitty_pipelines`` is first on sys.path (PYTHONPATH=<an older checkout>
measures the code before the change the same way).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg

from chitty_pipelines.chittyos.ids import ChittyIdResource
from chitty_pipelines.platforms.claude_code.tables import MESSAGES, SESSIONS
from chitty_pipelines.unified.projects import unified_projects
from chitty_pipelines.unified.sessions import unified_sessions
from chitty_pipelines.unified.topic_classifier import TopicClassifierResource
from chitty_pipelines.unified.topics import session_topics, topics
from chitty_pipelines.warehouse.opstore_resource import OpStoreResource
from chitty_pipelines.warehouse.resource import WarehouseResource

T0 = datetime(2026, 11, 20, 12, tzinfo=UTC)
WORDS = ["deploy the worker", "fix the auth token", "write pytest tests", "tune the sql index",
         "refactor the parser", "plan the release", "debug the sync", "add a dashboard"]  # fmt: skip


def seed(wh: Any, n: int, bump: set[int] | None = None) -> None:
    sessions, messages = [], []
    for i in range(n):
        last = T0 - timedelta(hours=i) + (timedelta(minutes=1) if bump and i in bump else timedelta())
        sid = f"s{i:05d}"
        title = f"{WORDS[i % len(WORDS)]} #{i}" + (" (edited)" if bump and i in bump else "")
        sessions.append({"session_id": sid, "project_path": f"/Users/x/code/proj{i % 60}",
                         "first_at": last - timedelta(hours=1), "last_at": last, "models": ["opus"],
                         "title": title, "prompt_count": 2, "message_count": 6, "tool_call_count": 1,
                         "input_tokens": 10, "output_tokens": 5, "cache_creation_tokens": 0,
                         "cache_read_tokens": 0, "total_tokens": 15})  # fmt: skip
        for line in range(3):
            messages.append({"source_file": f"/c/{sid}.jsonl", "line_no": line + 1, "session_id": sid,
                             "is_prompt": line == 0, "file_kind": "main", "type": "user", "role": "user",
                             "text": f"{WORDS[(i + line) % len(WORDS)]} please, step {line}",
                             "is_sidechain": False, "usage_eligible": False})  # fmt: skip
    with wh.transaction("seed") as tx:
        tx.upsert(SESSIONS, sessions)
        tx.upsert(MESSAGES, messages)


def run(resources: dict[str, Any], now: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    t0 = time.monotonic()
    result = dg.materialize(
        [unified_projects, unified_sessions, session_topics, topics],
        resources=resources,
        run_config={"ops": {unified_sessions.op.name: {"config": {"now": now}}}},
    )
    out["wall_s"] = round(time.monotonic() - t0, 3)
    for mat in result.get_asset_materialization_events():
        m = mat.step_materialization_data.materialization
        md = {k: getattr(v, "value", v) for k, v in m.metadata.items()}
        out[m.asset_key.to_user_string()] = {
            k: md.get(k) for k in ("rows_written", "skipped", "mode", "classified", "duration_s") if k in md
        }
    for step in result.get_step_success_events():
        out.setdefault("step_s", {})[step.step_key] = round(step.event_specific_data.duration_ms / 1000, 3)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sessions", type=int, default=1685)
    ap.add_argument("--changed", type=int, default=5)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    home = Path(tempfile.mkdtemp(prefix="bench-unified-"))
    wh_res = WarehouseResource(path=str(home / "warehouse.duckdb"))
    resources = {
        "warehouse": wh_res,
        "opstore": OpStoreResource(path=str(home / "opstore.sqlite")),
        "chitty_id": ChittyIdResource(base_url="http://127.0.0.1:9", token=None),
        "topic_classifier": TopicClassifierResource(),
    }
    wh = wh_res.get()
    seed(wh, args.sessions)
    now = (T0 + timedelta(minutes=10)).isoformat()
    first = run(resources, now)
    no_change = run(resources, now)
    seed(wh, args.sessions, bump=set(range(1, 1 + args.changed)))
    k_changed = run(resources, now)
    result = {"inputs": {"sessions": args.sessions, "changed": args.changed},
              "first": first, "no_change": no_change, "k_changed": k_changed}  # fmt: skip
    text = json.dumps(result, indent=2, default=str)
    if args.out:
        args.out.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
