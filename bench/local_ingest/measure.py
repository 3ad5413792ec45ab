"""Run a command as a child process and measure wall time and peak RSS; install and run ccusage.

Peak RSS comes from ``os.wait4``: the kernel's ``ru_maxrss`` for the child, which also covers the
descendants it waited for (ccusage's node launcher runs a native binary as a child).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

CCUSAGE_VERSION = "20.0.24"  # 20.0.26's native linux-x64 package is missing from npm (stack-notes)


@dataclass
class Measured:
    wall_s: float
    peak_rss_mb: float
    returncode: int
    stdout: bytes
    stderr: bytes
    loadavg_before: tuple[float, float, float]

    def summary(self) -> dict[str, Any]:
        return {
            "wall_s": round(self.wall_s, 3),
            "peak_rss_mb": round(self.peak_rss_mb, 1),
            "loadavg_1m_before": round(self.loadavg_before[0], 2),
        }


def run_measured(cmd: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> Measured:
    """Run ``cmd`` with stdout/stderr to temp files (large outputs never block a pipe)."""
    import tempfile

    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        load = os.getloadavg()
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env, cwd=cwd)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, tell Popen
        out.seek(0)
        err.seek(0)
        return Measured(wall, usage.ru_maxrss / 1024, proc.returncode, out.read(), err.read(), load)


def ccusage_bin(work: Path) -> Path | None:
    """The ccusage launcher under ``<work>/ccusage``, installed with npm if absent; None when npm
    is unavailable or the install fails."""
    prefix = work / "ccusage"
    binary = prefix / "node_modules" / ".bin" / "ccusage"
    if binary.exists():
        return binary
    npm = shutil.which("npm")
    if not npm:
        return None
    prefix.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [npm, "install", "--prefix", str(prefix), f"ccusage@{CCUSAGE_VERSION}"],
        capture_output=True,
        timeout=600,
    )
    return binary if done.returncode == 0 and binary.exists() else None


def run_ccusage(binary: Path, corpus: Path, empty_home: Path) -> tuple[Measured, dict[str, Any]]:
    """``ccusage session --json --offline`` over the corpus only (empty HOME, no network)."""
    empty_home.mkdir(parents=True, exist_ok=True)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(empty_home)}
    env["CLAUDE_CONFIG_DIR"] = str(corpus)
    m = run_measured([str(binary), "session", "--json", "--offline"], env=env)
    if m.returncode != 0:
        raise RuntimeError(f"ccusage failed ({m.returncode}): {m.stderr[-2000:].decode(errors='replace')}")
    data = orjson.loads(m.stdout)
    t = data.get("totals") or {}
    totals = {
        "input_tokens": int(t.get("inputTokens", 0)),
        "output_tokens": int(t.get("outputTokens", 0)),
        "cache_creation_tokens": int(t.get("cacheCreationTokens", 0)),
        "cache_read_tokens": int(t.get("cacheReadTokens", 0)),
        "total_tokens": int(t.get("totalTokens", 0)),
    }
    return m, {"tokens": totals, "sessions_reported": len(data.get("session") or [])}


def warm_page_cache(corpus: Path) -> int:
    """Read every file once so every contender starts from the same warm page cache."""
    n = 0
    for path in corpus.rglob("*"):
        if path.is_file():
            with open(path, "rb") as fh:
                while chunk := fh.read(1 << 20):
                    n += len(chunk)
    return n
