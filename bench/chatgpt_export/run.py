"""Benchmark: ChatGPT export ingestion, streamed (ijson, batched writes) vs ``json.load``.

    .venv/bin/python -m bench.chatgpt_export.run            # ~150 MB export on one line
    .venv/bin/python -m bench.chatgpt_export.run --smoke    # ~2 MB, seconds

Each mode runs in its own child process so peak RSS (``os.wait4`` ru_maxrss) is its own:

* ``baseline_json_load``: ``json.load`` the whole file, then flatten every conversation with the
  same parser (no warehouse): what a naive importer does; memory grows with the file.
* ``stream_parse``: ijson over ``item`` + the same flattening, no warehouse: the parser alone.
* ``sync``: the real ``sync_exports`` into a fresh DuckDB warehouse (batched transactions,
  cursor), then ``resync``: the same again with nothing changed (must read 0 bytes).

Writes bench/results/chatgpt_export.json (--smoke: bench/.work/chatgpt_export-smoke.json).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
WORDS = [
    *("deploy", "rollback", "cluster", "chart", "staging", "pasta", "anchovies"),
    *("naïve", "café", "Grüße", "東京", "résumé", "—", "✓"),  # non-ASCII: the export escapes them
]


def _node(nid: str, parent: str | None, children: list[str], role: str, t: float, rng: random.Random) -> dict:
    text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(20, 400)))
    return {
        "id": nid,
        "message": {
            "id": nid,
            "author": {"role": role, "name": None, "metadata": {}},
            "create_time": t,
            "update_time": None,
            "content": {"content_type": "text", "parts": [text]},
            "status": "finished_successfully",
            "end_turn": role == "assistant",
            "weight": 1.0,
            "metadata": {"model_slug": "gpt-4o"} if role == "assistant" else {},
            "recipient": "all",
        },
        "parent": parent,
        "children": children,
    }


def _conversation(i: int, rng: random.Random) -> dict[str, Any]:
    """A chain of 4-60 messages, with a regenerated answer (a second branch) one time in four."""
    t0 = 1_700_000_000 + i * 3600.0
    mapping: dict[str, Any] = {"root": {"id": "root", "message": None, "parent": None, "children": []}}
    parent = "root"
    for k in range(rng.randint(4, 60)):
        nid = f"c{i}-n{k}"
        mapping[nid] = _node(nid, parent, [], "user" if k % 2 == 0 else "assistant", t0 + k, rng)
        mapping[parent]["children"].append(nid)
        parent = nid
    if rng.random() < 0.25:
        alt = f"c{i}-alt"
        grand = mapping[parent]["parent"]
        mapping[alt] = _node(alt, grand, [], "assistant", t0 + 999, rng)
        mapping[grand]["children"].append(alt)
    return {
        "title": f"conversation {i}",
        "create_time": t0,
        "update_time": t0 + 1000,
        "mapping": dict(reversed(list(mapping.items()))),  # not in tree order, like real exports
        "current_node": parent,
        "conversation_id": f"conv-{i:07d}",
        "id": f"conv-{i:07d}",
        "default_model_slug": "gpt-4o",
    }


def generate(path: Path, size_mb: float, seed: int) -> dict[str, int]:
    """One line, ``\\uXXXX`` escapes, like the real export. Returns the truth for checking."""
    rng = random.Random(seed)
    target = int(size_mb * 1024 * 1024)
    n = messages = visible = 0
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="ascii") as fh:
        fh.write("[")
        written = 1
        while written < target:
            conv = _conversation(n, rng)
            chunk = ("," if n else "") + json.dumps(conv, ensure_ascii=True)
            fh.write(chunk)
            written += len(chunk)
            total = len(conv["mapping"]) - 1
            messages += total
            visible += total - (1 if f"c{n}-alt" in conv["mapping"] else 0)
            n += 1
        fh.write("]")
    return {"conversations": n, "messages": messages, "visible_messages": visible}


def child(mode: str, export: Path, warehouse: Path, out: Path) -> None:
    """Runs inside the measured child process."""
    sys.path.insert(0, str(ROOT))
    from chitty_pipelines.kernel.json_array import iter_items
    from chitty_pipelines.platforms.chatgpt.parser import parse_conversation

    result: dict[str, Any] = {}
    t0 = time.perf_counter()
    if mode == "baseline_json_load":
        with export.open("rb") as fh:
            data = json.load(fh)
        msgs = sum(len(parse_conversation(c, str(export), i).messages) for i, c in enumerate(data))
        result = {"conversations": len(data), "messages": msgs}
    elif mode == "stream_parse":
        convs = msgs = 0
        with export.open("rb") as fh:
            for i, c in enumerate(iter_items(fh)):
                convs += 1
                msgs += len(parse_conversation(c, str(export), i).messages)
        result = {"conversations": convs, "messages": msgs}
    else:  # sync / resync
        from chitty_pipelines.platforms.chatgpt.streams import sync_exports
        from chitty_pipelines.warehouse import Warehouse

        wh = Warehouse(warehouse)
        o = sync_exports(wh, [export], run_id=f"bench-{mode}", full_refresh=False)
        result = {
            "conversations_written": o.conversations_written,
            "messages_written": o.messages_written,
            "bytes_read": o.bytes_read,
            "rejects": o.rejects,
            "rows_in_warehouse": int(wh.scalar("SELECT count(*) FROM raw_local.chatgpt_messages")),
            "visible_in_warehouse": int(
                wh.scalar("SELECT count(*) FROM raw_local.chatgpt_messages WHERE on_active_thread")
            ),
        }
    result["inner_wall_s"] = round(time.perf_counter() - t0, 3)
    out.write_text(json.dumps(result))


def measure(mode: str, export: Path, warehouse: Path, tmp: Path) -> dict[str, Any]:
    out = tmp / f"{mode}.json"
    cmd = [sys.executable, "-m", "bench.chatgpt_export.run", "--child", mode]
    cmd += ["--export", str(export), "--warehouse", str(warehouse), "--out", str(out)]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t0
    report = json.loads(out.read_text()) if out.exists() else {}
    mb = export.stat().st_size / 1024 / 1024
    return {
        "ok": proc.returncode == 0 and bool(report),
        "wall_s": round(wall, 3),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
        "mb_per_s": round(mb / report["inner_wall_s"], 2) if report.get("inner_wall_s") else None,
        **report,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--size-mb", type=float, default=None)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--child")
    ap.add_argument("--export", type=Path)
    ap.add_argument("--warehouse", type=Path)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.export, args.warehouse, args.out)
        return

    size = args.size_mb or (2.0 if args.smoke else 150.0)
    work = ROOT / "bench" / ".work"
    with tempfile.TemporaryDirectory(dir=work if work.is_dir() else None) as t:
        tmp = Path(t)
        export = tmp / "exports" / "conversations.json"
        t0 = time.perf_counter()
        truth = generate(export, size, args.seed)
        gen_s = time.perf_counter() - t0
        warehouse = tmp / "warehouse.duckdb"
        runs = {
            m: measure(m, export, warehouse, tmp)
            for m in ("baseline_json_load", "stream_parse", "sync", "resync")
        }
        size_mb = round(export.stat().st_size / 1024 / 1024, 2)
    base = runs["baseline_json_load"]
    result = {
        "bench": "chatgpt_export",
        "inputs": {
            "size_mb": size_mb,
            "seed": args.seed,
            "smoke": args.smoke,
            **truth,
            "generate_s": round(gen_s, 2),
        },
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "loadavg": os.getloadavg()},
        "runs": runs,
        "correct": runs["sync"].get("rows_in_warehouse") == truth["messages"]
        and runs["sync"].get("visible_in_warehouse") == truth["visible_messages"]
        and runs["resync"].get("bytes_read") == 0,
        "ratio_to_baseline": {
            m: {
                "peak_rss": round(r["peak_rss_mb"] / base["peak_rss_mb"], 3),
                "wall": round(r["wall_s"] / base["wall_s"], 3),
            }
            for m, r in runs.items()
        },
        "requests_made": 0,  # local files only
    }
    dest = (
        work / "chatgpt_export-smoke.json"
        if args.smoke
        else ROOT / "bench" / "results" / "chatgpt_export.json"
    )
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    print(f"written to {dest}")


if __name__ == "__main__":
    main()
