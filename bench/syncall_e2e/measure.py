"""Measuring one ``chitty-sync`` run: wall time and peak RSS of its whole process tree, what
Dagster recorded about it (steps, the claude_code step's duration and metadata), and the changes
applied between runs (one file grown by a line; one new session file)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import psutil

SAMPLE_S = 0.05
CLAUDE_STEP_PREFIX = "claude_code"  # the claude_code platform's step (its name may gain a suffix)


def run_tree_measured(cmd: list[str], env: dict[str, str], cwd: Path) -> dict[str, Any]:
    """Run ``cmd``; peak RSS summed over the process and all its descendants (sampled every
    50 ms: parse workers count too), and the largest single process's peak (``wait4``)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env, cwd=cwd)
        peak = [0]
        done = threading.Event()

        def sample() -> None:
            try:
                root = psutil.Process(proc.pid)
            except psutil.NoSuchProcess:
                return
            while not done.is_set():
                total = 0
                try:
                    for p in [root, *root.children(recursive=True)]:
                        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                            total += p.memory_info().rss
                except psutil.NoSuchProcess:
                    return
                peak[0] = max(peak[0], total)
                done.wait(SAMPLE_S)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        done.set()
        sampler.join()
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        return {
            "wall_s": round(wall, 3),
            "peak_rss_tree_mb": round(peak[0] / 2**20, 1),
            "peak_rss_largest_mb": round(usage.ru_maxrss / 1024, 1),
            "returncode": proc.returncode,
            "stderr": err.read().decode(errors="replace"),
        }


def run_facts(dagster_home: Path, before: set[str]) -> dict[str, Any]:
    """What the runs recorded in ``dagster_home`` since ``before`` (run ids) say."""
    import dagster as dg

    if not dagster_home.exists():
        return {"run_ids": set()}
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        runs = [r for r in instance.get_runs() if r.run_id not in before]
        facts: dict[str, Any] = {"run_ids": {r.run_id for r in instance.get_runs()}}
        if not runs:
            return facts
        steps: dict[str, float] = {}
        by_job: dict[str, int] = {}
        for run in runs:
            stats = instance.get_run_step_stats(run.run_id)
            by_job[run.job_name] = len(stats)
            for s in stats:
                if s.start_time and s.end_time:
                    steps[f"{run.job_name}:{s.step_key}"] = round(s.end_time - s.start_time, 3)
        claude = [v for k, v in steps.items() if k.split(":", 1)[1].startswith(CLAUDE_STEP_PREFIX)]
        event = instance.get_latest_materialization_event(dg.AssetKey(["raw_local", "claude_messages"]))
        md = {}
        if event and event.run_id in {r.run_id for r in runs} and event.asset_materialization:
            for k, v in event.asset_materialization.metadata.items():
                if k in (
                    "duration_s",
                    "bytes_read",
                    "files_read",
                    "files_skipped",
                    "batches",
                    "rows_written",
                ):
                    md[k] = getattr(v, "value", v)
        facts.update(
            steps=sum(by_job.values()),
            steps_by_job=by_job,
            claude_step_s=claude[0] if len(claude) == 1 else (round(sum(claude), 3) if claude else None),
            claude_metadata=md,
            slowest_steps=dict(sorted(steps.items(), key=lambda kv: -kv[1])[:10]),
        )
        return facts


@contextlib.contextmanager
def change_one_session(corpus: Path) -> Iterator[Path]:
    """Append one human prompt to one main session file (no usage, so the token truth holds);
    the file's bytes and mtime are restored afterwards so the corpus stays reproducible."""
    path = next(
        p
        for p in sorted(corpus.glob("projects/*/*.jsonl"))
        if not p.name.startswith("agent-") and p.stat().st_size
    )
    st = path.stat()
    last = orjson.loads(path.read_bytes().rstrip(b"\n").rsplit(b"\n", 1)[-1])
    line = {
        "type": "user",
        "uuid": "bench-syncall-e2e-one-change",
        "parentUuid": last.get("uuid"),
        "sessionId": last.get("sessionId"),
        "timestamp": last.get("timestamp"),
        "cwd": last.get("cwd"),
        "version": last.get("version"),
        "isSidechain": False,
        "message": {"role": "user", "content": "one more question"},
    }
    try:
        with path.open("ab") as fh:
            fh.write(orjson.dumps(line) + b"\n")
        yield path
    finally:
        with path.open("r+b") as fh:
            fh.truncate(st.st_size)
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


@contextlib.contextmanager
def add_one_session(corpus: Path) -> Iterator[Path]:
    """A new session file beside the first main session, its lines under a new session id and
    its prompts reworded (so the topic step has a new text to classify); removed afterwards."""
    source = next(
        p
        for p in sorted(corpus.glob("projects/*/*.jsonl"))
        if not p.name.startswith("agent-") and p.stat().st_size
    )
    new_id = "bench0000-e2e0-4000-8000-000000000001"
    path = source.with_name(f"{new_id}.jsonl")
    lines = []
    for raw in source.read_bytes().splitlines():
        try:
            line = orjson.loads(raw)
        except orjson.JSONDecodeError:
            continue
        if isinstance(line, dict):
            line["sessionId"] = new_id
            message = line.get("message")
            prompt = isinstance(message, dict) and isinstance(message.get("content"), str)
            if line.get("type") == "user" and prompt:
                message["content"] = "Deploy the new worker behind the gateway, then " + message["content"]
        lines.append(orjson.dumps(line))
    try:
        path.write_bytes(b"\n".join(lines) + b"\n")
        yield path
    finally:
        path.unlink(missing_ok=True)
