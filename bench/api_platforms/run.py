"""Runs every API platform benchmark (bench/api_platforms/bench_*.py) and writes one JSON file.

    .venv/bin/python -m bench.api_platforms.run                 # all platforms, 30 ms per request
    .venv/bin/python -m bench.api_platforms.run --smoke         # tiny sizes, seconds
    .venv/bin/python -m bench.api_platforms.run --only github   # one platform; others' results kept

Each module exposes ``run(latency_s: float, smoke: bool) -> dict``. Results go to
bench/results/api_platforms.json (``--smoke``: bench/.work/api_platforms-smoke.json), keyed by
platform; a platform that raises is recorded with its error and the others still run.
"""

from __future__ import annotations

import argparse
import importlib
import json
import platform
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def discover() -> dict[str, str]:
    """platform name -> module name, e.g. {"github": "bench.api_platforms.bench_github"}."""
    return {
        p.stem.removeprefix("bench_"): f"bench.api_platforms.{p.stem}"
        for p in sorted(HERE.glob("bench_*.py"))
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--smoke", action="store_true", help="tiny sizes (seconds)")
    parser.add_argument("--latency", type=float, default=0.03, help="seconds added to every fake response")
    parser.add_argument("--only", nargs="*", default=None, help="platforms to run (default: all)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)

    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    modules = discover()
    chosen = {k: v for k, v in modules.items() if args.only is None or k in args.only}
    out = args.out or (
        ROOT / "bench" / ".work" / "api_platforms-smoke.json"
        if args.smoke
        else ROOT / "bench/results/api_platforms.json"
    )
    previous: dict[str, Any] = json.loads(out.read_text()) if out.exists() else {}
    platforms: dict[str, Any] = dict(previous.get("platforms", {}))
    failed = False
    for name, module_name in chosen.items():
        started = time.perf_counter()
        print(
            f"[api_platforms] {name} (latency {args.latency * 1000:.0f} ms, smoke={args.smoke}) ...",
            flush=True,
        )
        try:
            result = importlib.import_module(module_name).run(latency_s=args.latency, smoke=args.smoke)
        except Exception as exc:  # one platform's failure must not hide the others' figures
            failed = True
            result = {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc(limit=5)}
        result["bench_wall_s"] = round(time.perf_counter() - started, 2)
        result["measured_at"] = datetime.now(UTC).isoformat(timespec="seconds")
        platforms[name] = result
        print(
            json.dumps({name: {k: v for k, v in result.items() if k != "traceback"}}, indent=2)[:4000],
            flush=True,
        )

    report = {
        "benchmark": "api_platforms",
        "latency_s": args.latency,
        "smoke": args.smoke,
        "machine": {"python": platform.python_version(), "platform": platform.platform()},
        "platforms": platforms,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(f"[api_platforms] wrote {out}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
