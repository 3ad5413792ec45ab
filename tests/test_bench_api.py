"""Smoke test of bench/api: a real ``chitty-sync serve`` over a seeded hub store, the bounded load
generator at rest and during a real ``syncall`` of a tiny corpus (no timing asserts: numbers are
for bench/results; here every request must answer 200 and the result must be complete)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.api import run  # noqa: E402


def test_smoke_api_load_answers_everything_at_rest_and_during_syncall(tmp_path: Path) -> None:
    out = tmp_path / "api.json"
    r = run.main(["--smoke", "--work", str(tmp_path / "work"), "--out", str(out)])
    assert json.loads(out.read_text())["benchmark"] == "api"
    for phase in ("rest", "during_syncall"):
        p = r[phase]
        assert p["errors"] == 0, p["error_kinds"]
        assert p["ok"] == p["requests"] > 0
        assert all(v["requests"] > 0 for v in p["by_path"].values())
        assert p["latency_ms"]["p99"] is not None
    assert r["rest"]["requests"] <= 400  # bounded by request count
    assert r["during_syncall"]["syncall_rc"] == 0
    assert r["machine"]["cpu_count"] >= 1 and len(r["machine"]["loadavg_before"]) == 3
