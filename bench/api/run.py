"""Benchmark: the sync API (``chitty-sync serve``) under load, at rest and while syncall writes.

    .venv/bin/python -m bench.api.run                       # 10,000 sessions, 50 projects; syncall on 500 MB
    .venv/bin/python -m bench.api.run --corpus DIR          # reuse a generated Claude Code corpus
    .venv/bin/python -m bench.api.run --smoke               # 500 sessions, 3 MB corpus, seconds

* The hub store is seeded with ``--sessions`` sessions over ``--projects`` projects (heartbeats
  spread over two days, so ``active`` is a real range count), a read token is created the way
  ``chitty-sync token create`` stores it, and one real ``chitty-sync serve`` starts on a free
  loopback port (its own process; CLAUDE_HOME = the corpus, so the local platform counts as
  configured and /api/status reads real tables).
* The load generator (asyncio + aiohttp, ``--concurrency`` connections, keep-alive) sends only to
  127.0.0.1 and stops by itself: at ``--requests`` requests or ``--seconds`` seconds, whichever
  comes first. Requests alternate ``GET /api/session?limit=100`` and ``GET /api/status``.
* Phase ``rest``: the load alone. Phase ``during_syncall``: the same load while ``chitty-sync
  syncall`` (a subprocess, same CHITTY_HOME as the server) ingests the corpus into the warehouse
  the server reads; the load runs until syncall exits (bounded as above).
* Reported: requests/s, p50/p90/p99/max per endpoint and overall, errors (non-200 and transport),
  the server's CPU count, load average before and after (the machine is shared: the client runs
  on the same cores as the server and the sync).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
PATHS = ("/api/session?limit=100", "/api/status")
TARGETS = {"rest": {"rps": 500.0, "p99_ms": 100.0}, "during_syncall": {"errors": 0, "p99_ms": 500.0}}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def seed_hub(home: Path, sessions: int, projects: int, seed: int = 7) -> str:
    """Fill the hub store; the read token (plain, for the load generator only)."""
    from chitty_pipelines.api.auth import hash_token, new_token
    from chitty_pipelines.warehouse.hubstore import HubStore

    rnd = random.Random(seed)
    hub = HubStore(home / "opstore.sqlite")
    now = datetime.now(UTC)
    platforms = ("claude_code", "claude_desktop", "chatgpt", "gemini", "openai")
    keys = [f"project-{i:02d}" for i in range(projects)]
    with hub._write() as con:  # one transaction: seeding is not what is measured
        ts = now.isoformat()
        con.executemany(
            "INSERT INTO {projects} (project_key, name, registered_at, updated_at) "
            "VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
            [(k, k.replace("-", " ").title(), ts, ts) for k in keys],
        )
        rows = []
        for i in range(sessions):
            started = now - timedelta(seconds=rnd.uniform(0, 2 * 86400))
            beat = started + timedelta(seconds=rnd.uniform(0, (now - started).total_seconds()))
            ended = beat.isoformat() if rnd.random() < 0.3 else None
            rows.append(
                (
                    f"bench-{i:05d}",
                    rnd.choice(keys),
                    rnd.choice(platforms),
                    f"machine-{rnd.randrange(8)}",
                    started.isoformat(),
                    beat.isoformat(),
                    json.dumps({"pwd": f"/home/dev/{rnd.choice(keys)}"}),
                    ended,
                )
            )
        con.executemany(
            "INSERT INTO {sessions} (session_id, project_key, ai_platform, machine_id, started_at, "
            "last_heartbeat_at, metadata, ended_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            rows,
        )
    token = new_token()
    hub.add_token("bench-read", hash_token(token), "read")
    return token


def start_server(env: dict[str, str], port: int, log: Path) -> subprocess.Popen:
    import httpx

    out = log.open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "chitty_pipelines.cli", "serve", "--port", str(port)],
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.3)
    proc.terminate()
    raise RuntimeError("server did not answer /health within 120 s")


async def load(
    base: str, token: str, concurrency: int, max_requests: int, max_seconds: float, stop: Any = None
) -> dict[str, Any]:
    """Closed-loop load: ``concurrency`` workers, each sending its next request when the last one
    answered; ends at ``max_requests``, ``max_seconds`` or when ``stop()`` returns True.

    aiohttp, not httpx: the generator runs on the server's own two cores and httpx spent about
    three times aiohttp's CPU per request, which the server then lacked."""
    import aiohttp

    assert base.startswith("http://127.0.0.1:"), "the load generator only targets loopback"
    lat: dict[str, list[float]] = {p: [] for p in PATHS}
    errors: dict[str, int] = {}
    sent = 0
    t0 = time.perf_counter()
    deadline = t0 + max_seconds
    connector = aiohttp.TCPConnector(limit=concurrency, force_close=False)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(
        base_url=base,
        headers={"Authorization": f"Bearer {token}"},
        connector=connector,
        timeout=timeout,
    ) as client:

        async def worker(n: int) -> None:
            nonlocal sent
            i = n
            while sent < max_requests and time.perf_counter() < deadline and not (stop and stop()):
                sent += 1
                path = PATHS[i % len(PATHS)]
                i += 1
                start = time.perf_counter()
                try:
                    async with client.get(path) as r:
                        await r.read()
                        ok = r.status == 200
                    if not ok:
                        errors[f"{path} {r.status}"] = errors.get(f"{path} {r.status}", 0) + 1
                except (aiohttp.ClientError, TimeoutError) as exc:
                    ok = False
                    errors[f"{path} {type(exc).__name__}"] = errors.get(f"{path} {type(exc).__name__}", 0) + 1
                if ok:
                    lat[path].append((time.perf_counter() - start) * 1000)

        await asyncio.gather(*(worker(n) for n in range(concurrency)))
    wall = time.perf_counter() - t0
    every = [x for v in lat.values() for x in v]
    n_err = sum(errors.values())
    return {
        "requests": sent,
        "ok": len(every),
        "errors": n_err,
        "error_kinds": errors,
        "wall_s": round(wall, 3),
        "rps": round(sent / wall, 1) if wall else 0.0,
        "latency_ms": pct(every),
        "by_path": {p: {"requests": len(v), "latency_ms": pct(v)} for p, v in lat.items()},
    }


def run_async(coro: Any) -> Any:
    """On uvloop when installed (uvicorn's standard extra brings it): the generator shares the
    server's cores, so the less CPU it spends per request the more the server gets."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coro)


def pct(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p90": None, "p99": None, "max": None, "mean": None}
    s = sorted(values)

    def q(p: float) -> float:
        return round(s[min(len(s) - 1, int(p * len(s)))], 2)

    return {
        "p50": q(0.50),
        "p90": q(0.90),
        "p99": q(0.99),
        "max": round(s[-1], 2),
        "mean": round(statistics.fmean(s), 2),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description="sync API load: at rest and during syncall")
    ap.add_argument("--sessions", type=int, default=10_000)
    ap.add_argument("--projects", type=int, default=50)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--requests", type=int, default=20_000, help="most requests per phase")
    ap.add_argument("--seconds", type=float, default=30.0, help="longest phase at rest")
    ap.add_argument("--sync-seconds", type=float, default=600.0, help="longest phase during syncall")
    ap.add_argument("--size-mb", type=float, default=500.0, help="corpus size when --corpus is not given")
    ap.add_argument("--corpus", type=Path, default=None, help="an existing bench/local_ingest corpus")
    ap.add_argument("--work", type=Path, default=ROOT / "bench" / ".work")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--smoke", action="store_true")
    a = ap.parse_args(argv)
    if a.smoke:
        a.sessions, a.projects, a.requests, a.seconds, a.size_mb = 500, 5, 400, 5.0, 3.0
        a.concurrency = min(a.concurrency, 8)
    out_path = a.out or (a.work / "api.smoke.json" if a.smoke else ROOT / "bench/results/api.json")
    if a.corpus is None:
        from bench.local_ingest.run import corpus_for

        a.corpus, _manifest, _reused = corpus_for(a.work, a.size_mb, 7, (0.05, 0.03, 1))
    corpus_bytes = sum(f.stat().st_size for f in a.corpus.rglob("*.jsonl"))
    run_dir = a.work / f"api-{int(time.time())}"
    home = run_dir / "chitty"
    home.mkdir(parents=True)
    (run_dir / "exports").mkdir()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(run_dir),
        "LANG": os.environ.get("LANG", "C.UTF-8"),
        "CHITTY_HOME": str(home),
        "DAGSTER_HOME": str(run_dir / "dagster"),
        "CLAUDE_HOME": str(a.corpus),
        "CHITTY_EXPORTS_DIR": str(run_dir / "exports"),
        **({"PYTHONPATH": os.environ["PYTHONPATH"]} if os.environ.get("PYTHONPATH") else {}),
    }
    t = time.perf_counter()
    token = seed_hub(home, a.sessions, a.projects)
    seed_s = time.perf_counter() - t
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = start_server(env, port, run_dir / "serve.log")
    result: dict[str, Any] = {
        "benchmark": "api",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "inputs": {
            "sessions": a.sessions,
            "projects": a.projects,
            "concurrency": a.concurrency,
            "max_requests_per_phase": a.requests,
            "max_seconds_rest": a.seconds,
            "corpus": str(a.corpus),
            "corpus_mb": round(corpus_bytes / 1e6, 1),
            "paths": list(PATHS),
            "seed_s": round(seed_s, 2),
        },
        "machine": {
            "cpu_count": os.cpu_count(),
            "cpus_usable": len(os.sched_getaffinity(0)),
            "server_workers": 1,
            "note": "one host: the load generator, the server and syncall share these CPUs",
        },
        "targets": TARGETS,
    }
    try:
        run_async(load(base, token, 4, 200, 20))  # warm-up: imports, first warehouse read
        result["machine"]["loadavg_before"] = os.getloadavg()
        result["rest"] = run_async(load(base, token, a.concurrency, a.requests, a.seconds))
        result["machine"]["loadavg_after_rest"] = os.getloadavg()

        sync = subprocess.Popen(
            [sys.executable, "-m", "chitty_pipelines.cli", "syncall"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=(run_dir / "syncall.log").open("wb"),
        )
        t = time.perf_counter()
        during = run_async(
            load(
                base,
                token,
                a.concurrency,
                10**9 if not a.smoke else a.requests * 50,
                a.sync_seconds,
                stop=lambda: sync.poll() is not None,
            )
        )
        rc = sync.wait(timeout=max(60.0, a.sync_seconds))
        during["syncall_rc"] = rc
        during["syncall_s"] = round(time.perf_counter() - t, 2)
        result["during_syncall"] = during
        result["machine"]["loadavg_after_syncall"] = os.getloadavg()
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
    rest, dur = result["rest"], result["during_syncall"]
    result["verdict"] = {
        "rest_rps_ok": rest["rps"] >= TARGETS["rest"]["rps"],
        "rest_p99_ok": (rest["latency_ms"]["p99"] or 1e9) <= TARGETS["rest"]["p99_ms"],
        "during_errors_ok": dur["errors"] == 0,
        "during_p99_ok": (dur["latency_ms"]["p99"] or 1e9) <= TARGETS["during_syncall"]["p99_ms"],
        "syncall_ok": dur["syncall_rc"] == 0,
    }
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(result, indent=2) + "\n")
    print(report(result, out_path))
    return result


def report(r: dict[str, Any], out_path: Path) -> str:
    m, i = r["machine"], r["inputs"]
    lines = [
        f"sync API: {i['sessions']:,} sessions, {i['projects']} projects, concurrency {i['concurrency']}; "
        f"{m['cpus_usable']} CPUs (shared); loadavg before {m['loadavg_before'][0]:.2f}",
    ]
    for phase in ("rest", "during_syncall"):
        p = r[phase]
        extra = (
            f", syncall {p['syncall_s']} s rc={p['syncall_rc']} on {i['corpus_mb']} MB"
            if phase != "rest"
            else ""
        )
        lines.append(
            f"{phase}: {p['requests']:,} requests in {p['wall_s']} s = {p['rps']} req/s, "
            f"p50 {p['latency_ms']['p50']} ms, p99 {p['latency_ms']['p99']} ms, errors {p['errors']}{extra}"
        )
    lines.append(f"verdict: {r['verdict']}")
    lines.append(f"written to {out_path}")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
