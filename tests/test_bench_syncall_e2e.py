"""Smoke test of bench/syncall_e2e: ``chitty-sync syncall`` as a subprocess over a tiny corpus,
three times (first, nothing changed, one session file grown by a line), with the token truth."""

from __future__ import annotations

import sys
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.syncall_e2e import run  # noqa: E402


def test_smoke_syncall_is_exact_and_reruns_read_only_what_changed(tmp_path: Path) -> None:
    out = tmp_path / "result.json"
    args = ["--smoke", "--skip-ccusage", "--work", str(tmp_path / "work"), "--out", str(out)]
    r = run.main([*args, "--seed", "4", "--resume-rate", "0.15", "--gateway-rate", "0.2", "--rare", "4"])
    assert orjson.loads(out.read_bytes())["bench"] == "syncall_e2e"
    s = r["summary"]
    assert s["all_runs_ok"], r["cycles"]
    t = s["targets"]
    assert t["tokens_exact"] is True and t["sessions_mismatched"] == 0
    transcripts = sum(p.stat().st_size for p in (tmp_path / "work").glob("corpus-*/projects/**/*.jsonl"))
    assert s["first"]["claude_bytes_read"] == transcripts
    assert s["no_change"]["claude_bytes_read"] == 0
    one = s["one_change"]
    assert one["claude_files_read"] == 1 and 0 < one["claude_bytes_read"] < 1000
    assert s["first"]["steps"] > 0 and s["first"]["claude_step"]["best_s"] > 0
    assert r["floor_import_dagster"]["best_s"] > 0 and r["chitty_sync_help"]["best_s"] > 0
    # the baseline of the same runs doing nothing ran (and recorded its runs without failing)
    assert r["empty_recorded_runs"]["best_s"] > 0 and t["no_change_over_empty_runs"] > 0
    # the new session was read (its file only) and classified; then removed again
    new = s["new_session"]
    assert new["claude_files_read"] == 1 and new["claude_bytes_read"] > 0
    assert r["cycles"][0]["new_session"]["slowest_steps"]
    added = r["cycles"][0]["new_session"]["added_file"]
    assert not (next((tmp_path / "work").glob("corpus-*")) / added).exists()
    # the changed file was restored: the corpus is byte-for-byte the generator's again
    changed = r["cycles"][0]["one_change"]["changed_file"]
    corpus = next((tmp_path / "work").glob("corpus-*"))
    assert b"bench-syncall-e2e-one-change" not in (corpus / changed).read_bytes()
