"""Generate a deterministic, realistic Claude Code corpus under ``<out>/projects/`` and a manifest
with the TRUE token totals (session-formats.md §1.8), computed while generating.

    python -m bench.local_ingest.generate --out bench/.work/corpus --size-mb 520 [--seed 7]

The corpus mixes CLI versions and all three subagent layouts, multi-line streamed responses,
tool_use/tool_result pairs with ``toolUseResult``, TodoWrite, progress and ``agent_progress``
copies, snapshots, queue operations, summaries and titles, compactions, ``<synthetic>`` API
errors, ``/btw`` side-question replays, gateway sessions without ``requestId`` and resumed
sessions that replay earlier lines under the same uuids into a new file.

Files: ``<out>/manifest.json`` (totals, counts, inputs) and ``<out>/manifest_sessions.json``
(true tokens per session id).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any

import orjson

from .corpus import Gen, encode_cwd
from .sessions import Session, Truth

VERSIONS = {
    "1.0": ["1.0.30", "1.0.98", "1.0.108"],
    "2.0": ["2.0.28", "2.0.55", "2.0.76"],
    "2.1": ["2.1.38", "2.1.101", "2.1.173"],
}
START_MS = 1_748_736_000_000  # 2025-06-01
SPAN_MS = 540 * 86_400_000  # about 18 months of activity
USERS = ["alice", "bob", "marco", "wei", "priya"]
NAMES = ["spotter", "chitty_sync", "my.api", "web-app", "infra", "ml_pipeline", "docs", "cli-tools", "mobile"]


def projects(g: Gen, n: int) -> list[tuple[str, str]]:
    """(cwd, branch) per project; cwds with dots, underscores and a Windows path, so the folder
    name is the lossy encoding of §1.2."""
    out = []
    for i in range(n):
        user, name = g.rng.choice(USERS), f"{g.rng.choice(NAMES)}{i}"
        style = i % 4
        if style == 0:
            cwd = f"/home/{user}/code/{name}"
        elif style == 1:
            cwd = f"/Users/{user}/src/github.com/{user}-org/{name}"
        elif style == 2:
            cwd = f"/home/{user}/.config/{name}/worktrees/feature_{i}"
        else:
            cwd = f"C:\\git\\{name}" if i % 12 == 3 else f"/srv/{user}/{name}.d"
        out.append((cwd, g.rng.choice(["main", "master", "dev", f"feature/{name}", ""])))
    return out


def family_for(ms: int, g: Gen) -> str:
    """Older dates used older CLIs; a little overlap, as people upgrade at different times."""
    frac = (ms - START_MS) / SPAN_MS + g.rng.uniform(-0.08, 0.08)
    return "1.0" if frac < 0.25 else "2.0" if frac < 0.5 else "2.1"


class Writer:
    def __init__(self, out: Path) -> None:
        self.out = out
        self.bytes = 0
        self.lines = 0
        self.files = 0
        self.layouts: dict[str, int] = {"main": 0, "agent_flat": 0, "subagent": 0, "meta_json": 0}

    def session(self, project_dir: Path, s: Session, mtime_s: float) -> None:
        for rel, content in s.files.items():
            path = project_dir / rel
            if rel.endswith(".meta.json"):
                data = orjson.dumps(content)
                self.layouts["meta_json"] += 1
            else:
                data = b"\n".join(map(orjson.dumps, content)) + b"\n"
                self.lines += len(content)
                kind = (
                    "subagent"
                    if "/subagents/" in rel
                    else "agent_flat"
                    if rel.startswith("agent-")
                    else "main"
                )
                self.layouts[kind] += 1
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "wb") as fh:
                fh.write(data)
            os.utime(path, (mtime_s, mtime_s))
            self.bytes += len(data)
            self.files += 1


def generate(
    out: Path,
    size_mb: float,
    seed: int = 7,
    resume_rate: float = 0.05,
    gateway_rate: float = 0.03,
    rare: int = 1,
) -> dict[str, Any]:
    """Write sessions until the corpus holds ``size_mb`` MB (10**6 bytes); return the manifest.
    Tests raise ``resume_rate``, ``gateway_rate`` and ``rare`` (odds multiplier of subagents,
    compactions, API errors, /btw) so a tiny corpus still holds every trap."""
    t0 = time.perf_counter()
    g, truth = Gen(seed), Truth()
    target = int(size_mb * 1_000_000)
    pool = projects(g, max(3, min(400, int(size_mb / 4))))
    w = Writer(out)
    sessions = 0
    gateway_sessions = 0
    resumed = 0
    families: dict[str, int] = {"1.0": 0, "2.0": 0, "2.1": 0}
    while w.bytes < target:
        cwd, branch = g.rng.choice(pool)
        start = START_MS + g.rng.randrange(SPAN_MS)
        fam = family_for(start, g)
        gateway = g.rng.random() < gateway_rate
        s = Session(
            g,
            truth,
            sid=g.uuid(),
            cwd=cwd,
            branch=branch,
            version=g.rng.choice(VERSIONS[fam]),
            start_ms=start,
            gateway=gateway,
            rare=rare,
        )
        s.build(max(1, int(g.rng.lognormvariate(1.25, 0.8))))
        chain = [s]
        # Resumed sessions replay the whole earlier conversation into a new file (§1.8 rule 3).
        while g.rng.random() < (max(0.3, resume_rate) if gateway else resume_rate):
            prev = chain[-1]
            nxt = Session(
                g,
                truth,
                sid=g.uuid(),
                cwd=cwd,
                branch=branch,
                version=prev.version,
                start_ms=prev.clock + g.rng.randint(60_000, 86_400_000),
                gateway=gateway,
                rare=rare,
            )
            nxt.replay_from(prev)
            nxt.build(max(1, int(g.rng.lognormvariate(1.0, 0.7))))
            chain.append(nxt)
            resumed += 1
        project_dir = out / "projects" / encode_cwd(cwd)
        for x in chain:
            w.session(project_dir, x, x.clock / 1000)
            sessions += 1
            families[x.family] += 1
            gateway_sessions += gateway
    truth.totals["total_tokens"] = sum(truth.totals.values())
    manifest: dict[str, Any] = {
        "generator": "bench/local_ingest/generate.py",
        "seed": seed,
        "resume_rate": resume_rate,
        "gateway_rate": gateway_rate,
        "rare": rare,
        "size_mb_target": size_mb,
        "bytes": w.bytes,
        "files": w.files,
        "lines": w.lines,
        "sessions": sessions,
        "projects": len({encode_cwd(c) for c, _ in pool if (out / "projects" / encode_cwd(c)).is_dir()}),
        "sessions_by_cli_family": families,
        "files_by_layout": w.layouts,
        "gateway_sessions": gateway_sessions,
        "resumed_sessions": resumed,
        "responses_counted": truth.responses,
        "line_counts": dict(sorted(truth.counts.items())),
        "true_tokens": truth.totals,
        "generate_seconds": round(time.perf_counter() - t0, 2),
    }
    (out / "manifest.json").write_bytes(orjson.dumps(manifest, option=orjson.OPT_INDENT_2))
    (out / "manifest_sessions.json").write_bytes(orjson.dumps(truth.per_session, option=orjson.OPT_SORT_KEYS))
    return manifest


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True, help="corpus folder (gets projects/ and manifest)")
    ap.add_argument("--size-mb", type=float, default=520.0)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args(argv)
    if (args.out / "projects").exists():
        raise SystemExit(f"{args.out}/projects exists; pick an empty --out")
    m = generate(args.out, args.size_mb, args.seed)
    print(
        orjson.dumps(
            {k: m[k] for k in ("bytes", "files", "sessions", "true_tokens", "generate_seconds")}
        ).decode()
    )


if __name__ == "__main__":
    main()
