"""Smoke test of bench/local_ingest: the seeded generator, its token truth against an independent
reader of the rules, and the whole runner (ingestion through Dagster, twice) at a tiny size."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import orjson
import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.local_ingest import run  # noqa: E402
from bench.local_ingest.generate import generate  # noqa: E402
from bench.local_ingest.reference import exact_totals  # noqa: E402


def _digest(root: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(root)).encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def test_generator_is_seeded_and_its_truth_matches_the_rules(tmp_path: Path) -> None:
    a = generate(tmp_path / "a", 2.0, seed=4, resume_rate=0.15, gateway_rate=0.2, rare=4)
    b = generate(tmp_path / "b", 2.0, seed=4, resume_rate=0.15, gateway_rate=0.2, rare=4)
    assert _digest(tmp_path / "a" / "projects") == _digest(tmp_path / "b" / "projects")
    a_, b_ = dict(a), dict(b)
    a_.pop("generate_seconds"), b_.pop("generate_seconds")
    assert a_ == b_
    assert a["bytes"] >= 2_000_000
    # every layout and every trap of §1.8 is present, so the truth below is tested on them
    assert all(a["files_by_layout"][k] > 0 for k in ("main", "agent_flat", "subagent", "meta_json"))
    assert a["resumed_sessions"] > 0 and a["gateway_sessions"] > 0
    counts = a["line_counts"]
    for key in (
        "agent_progress_lines",
        "replayed_lines",
        "synthetic_lines",
        "compactions",
        "btw_lines",
        "subagents_1.0",
    ):
        assert counts.get(key, 0) > 0, key

    ref = exact_totals(tmp_path / "a")
    two = exact_totals(tmp_path / "a", workers=2)
    assert two["true_tokens"] == ref["true_tokens"] and two["lines"] == ref["lines"]
    assert ref["true_tokens"] == a["true_tokens"]
    assert ref["responses_counted"] == a["responses_counted"]
    per_session = orjson.loads((tmp_path / "a" / "manifest_sessions.json").read_bytes())
    assert ref["per_session"] == per_session
    assert ref["lines"] == a["lines"] and ref["bad_lines"] == 0

    # summing every assistant line would over-count: the multi-line responses are real
    naive = 0
    for p in (tmp_path / "a" / "projects").rglob("*.jsonl"):
        for raw in p.read_bytes().splitlines():
            d = orjson.loads(raw)
            if d.get("type") == "assistant":
                naive += d["message"]["usage"]["output_tokens"]
    assert naive > a["true_tokens"]["output_tokens"]


def test_runner_smoke_ingests_exactly_and_rerun_reads_nothing(tmp_path: Path) -> None:
    from chitty_pipelines.platforms.claude_code import assets as local_claude

    if not local_claude.CLAUDE_ASSETS:
        pytest.skip("the Claude Code ingestion (CLAUDE_ASSETS) has not landed yet")
    out = tmp_path / "result.json"
    args = ["--smoke", "--skip-ccusage", "--work", str(tmp_path / "work"), "--out", str(out)]
    r = run.main([*args, "--seed", "4", "--resume-rate", "0.15", "--gateway-rate", "0.2", "--rare", "4"])
    assert orjson.loads(out.read_bytes())["bench"] == "local_ingest"
    first, second = r["ours"]["first_run"], r["ours"]["second_run_no_changes"]
    assert first["ok"], first.get("stderr_tail")
    assert second["ok"], second.get("stderr_tail")
    assert r["python_ceiling"]["processes_1"]["exact"] is True
    assert r["python_ceiling"]["processes_2"]["exact"] is True
    assert r["ours"]["tokens_exact"] is True, r["ours"]["tokens_minus_truth"]
    wh = r["ours"]["warehouse"]
    assert wh["sessions"] == r["inputs"]["sessions"]
    assert wh.get("sessions_mismatched", 0) == 0
