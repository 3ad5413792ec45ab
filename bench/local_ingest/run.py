"""Benchmark: ingest a generated Claude Code corpus through the real Dagster runtime and compare
with ccusage (baseline) and a plain-Python exact reader (the "Python ceiling"), same invocation.

    .venv/bin/python -m bench.local_ingest.run                 # full: 520 MB corpus
    .venv/bin/python -m bench.local_ingest.run --smoke         # a few MB, seconds

Steps: (a) generate or reuse the corpus under bench/.work/, (b) ccusage ``session --json
--offline`` (installed into bench/.work/ccusage on first use), (c) our ingestion into a fresh
temp warehouse in a child process, (d) the same again with no changes, (e) token totals of
``raw_local.claude_sessions`` vs the manifest's truth vs ccusage. Writes JSON (default
bench/results/local_ingest.json; --smoke writes under bench/.work/) and prints a summary.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from .generate import generate
from .measure import ccusage_bin, run_ccusage, run_measured, warm_page_cache

ROOT = Path(__file__).resolve().parents[2]
KEYS = ("input_tokens", "output_tokens", "cache_creation_tokens", "cache_read_tokens", "total_tokens")


def corpus_for(
    work: Path, size_mb: float, seed: int, rates: tuple[float, float, int]
) -> tuple[Path, dict[str, Any], bool]:
    """Reuse a corpus generated with the same inputs, else (re)generate it."""
    corpus = work / f"corpus-{size_mb:g}mb-seed{seed}-r{rates[0]:g}-g{rates[1]:g}-x{rates[2]}"
    manifest_path = corpus / "manifest.json"
    if manifest_path.exists():
        m = orjson.loads(manifest_path.read_bytes())
        same = (
            m.get("seed"),
            m.get("size_mb_target"),
            m.get("resume_rate"),
            m.get("gateway_rate"),
            m.get("rare"),
        )
        if same == (seed, size_mb, *rates):
            return corpus, m, True
    shutil.rmtree(corpus, ignore_errors=True)
    corpus.mkdir(parents=True)
    return corpus, generate(corpus, size_mb, seed, *rates), False


def code_version() -> dict[str, Any]:
    """The commit measured, and whether the ingestion code had uncommitted edits."""
    import subprocess

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else ""

    paths = ["chitty_pipelines/assets/platforms", "chitty_pipelines/parsers", "chitty_pipelines/resources"]
    dirty = [line[3:] for line in git("status", "--porcelain", "--", *paths).splitlines() if "claude" in line]
    return {"git_head": git("rev-parse", "--short", "HEAD"), "ingestion_uncommitted_files": dirty}


def ingest_once(corpus: Path, warehouse: Path, exports: Path, tmp: Path, tag: str) -> dict[str, Any]:
    out = tmp / f"ingest-{tag}.json"
    cmd = [sys.executable, "-m", "bench.local_ingest.ingest_child", "--corpus", str(corpus)]
    cmd += ["--warehouse", str(warehouse), "--exports", str(exports), "--out", str(out)]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHITTY_", "CLAUDE_", "DAGSTER_"))}
    env["CHITTY_HOME"] = str(tmp / "chitty_home")  # nothing of the user's is read or written
    m = run_measured(cmd, env=env, cwd=ROOT)
    report = orjson.loads(out.read_bytes()) if out.exists() else {"ok": False}
    if m.returncode != 0 or not report.get("ok"):
        report["stderr_tail"] = m.stderr[-3000:].decode(errors="replace")
    report.update(m.summary())
    return report


def warehouse_tokens(warehouse: Path, truth_per_session: dict[str, dict[str, int]]) -> dict[str, Any]:
    """Token sums of raw_local.claude_sessions, and how many sessions match the truth exactly."""
    from chitty_pipelines.warehouse import Warehouse

    wh = Warehouse(warehouse)
    if not wh.table_exists("raw_local", "claude_sessions"):
        return {"error": "raw_local.claude_sessions not found"}
    cols = set(wh.query("DESCRIBE raw_local.claude_sessions")["column_name"])
    present = [k for k in KEYS if k in cols]
    sums = wh.query(
        "SELECT count(*) AS n, "
        + ", ".join(f"coalesce(sum({k}), 0)::BIGINT AS {k}" for k in present)
        + " FROM raw_local.claude_sessions"
    ).iloc[0]
    out: dict[str, Any] = {"sessions": int(sums["n"]), "tokens": {k: int(sums[k]) for k in present}}
    if "session_id" in cols and present:
        df = wh.query(f"SELECT session_id, {', '.join(present)} FROM raw_local.claude_sessions")
        zero = dict.fromkeys(KEYS, 0)
        mismatched = []
        for row in df.itertuples(index=False):
            want = truth_per_session.get(row.session_id, zero)
            want_total = sum(want.get(k, 0) for k in KEYS[:4])
            got = {k: int(getattr(row, k) or 0) for k in present}
            if any(got[k] != (want_total if k == "total_tokens" else want.get(k, 0)) for k in present):
                mismatched.append(row.session_id)
        out["sessions_exact"] = len(df) - len(mismatched)
        out["sessions_mismatched"] = len(mismatched)
        out["mismatched_examples"] = mismatched[:5]
    return out


def ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 2) if a and b else None


def bytes_read(report: dict[str, Any]) -> dict[str, Any]:
    """Every metadata entry whose key mentions bytes, per asset (what a re-run read)."""
    found = {}
    for asset, md in (report.get("metadata") or {}).items():
        for k, v in md.items():
            if "byte" in k.lower() and isinstance(v, int | float):
                found[f"{asset}.{k}"] = v
    return found


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description="Claude Code ingestion benchmark vs ccusage")
    ap.add_argument("--size-mb", type=float, default=520.0)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--smoke", action="store_true", help="a 3 MB corpus; ccusage skipped if npm is missing")
    ap.add_argument("--work", type=Path, default=ROOT / "bench" / ".work")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--resume-rate", type=float, default=0.05, help="share of sessions resumed later")
    ap.add_argument("--gateway-rate", type=float, default=0.03, help="share of sessions without requestId")
    ap.add_argument("--rare", type=int, default=1, help="odds multiplier of rare features (tests)")
    ap.add_argument("--skip-ccusage", action="store_true")
    ap.add_argument("--delete-corpus", action="store_true", help="remove the corpus afterwards")
    a = ap.parse_args(argv)
    size = 3.0 if a.smoke else a.size_mb
    out_path = a.out or (
        a.work / "local_ingest.smoke.json" if a.smoke else ROOT / "bench/results/local_ingest.json"
    )
    a.work.mkdir(parents=True, exist_ok=True)

    corpus, manifest, reused = corpus_for(a.work, size, a.seed, (a.resume_rate, a.gateway_rate, a.rare))
    truth = manifest["true_tokens"]
    truth_sessions = orjson.loads((corpus / "manifest_sessions.json").read_bytes())
    mb = manifest["bytes"] / 1e6
    warm_page_cache(corpus)
    result: dict[str, Any] = {
        "bench": "local_ingest",
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "loadavg": os.getloadavg()},
        "page_cache": "warm (every file read once before timing)",
        "code": code_version(),
        "inputs": {k: manifest[k] for k in manifest if k not in ("true_tokens",)} | {"corpus_reused": reused},
        "truth_tokens": truth,
    }

    # (b) ccusage, the baseline: best of three (it is sub-second; one sample is noise)
    cc: dict[str, Any] = {"skipped": True}
    binary = None if a.skip_ccusage else ccusage_bin(a.work)
    if binary is None and not a.smoke and not a.skip_ccusage:
        raise SystemExit("ccusage could not be installed (npm missing?); use --skip-ccusage")
    if binary is not None:
        home = a.work / "empty-home"
        (a.work / "no-corpus" / "projects").mkdir(parents=True, exist_ok=True)
        run_ccusage(binary, a.work / "no-corpus", home)  # first run sets the binary's exec bit
        runs = [run_ccusage(binary, corpus, home) for _ in range(3)]
        best = min(runs, key=lambda r: r[0].wall_s)
        cc = {"version": "ccusage@20.0.24", **best[0].summary(), **best[1]}
        cc["wall_s_all"] = [round(r[0].wall_s, 3) for r in runs]
        cc["mb_per_s"] = round(mb / best[0].wall_s, 1)
        cc["tokens_minus_truth"] = {k: cc["tokens"][k] - truth[k] for k in KEYS}
    result["ccusage"] = cc

    # the Python ceiling (stack-notes): orjson over every line, exact rules; 1 and 2 processes
    ceiling: dict[str, Any] = {}
    for workers in (1, 2):
        cmd = [sys.executable, "-m", "bench.local_ingest.reference", str(corpus), str(workers)]
        ref = run_measured(cmd, cwd=ROOT)
        ref_out = orjson.loads(ref.stdout)
        ceiling[f"processes_{workers}"] = {
            **ref.summary(),
            "mb_per_s": round(mb / ref.wall_s, 1),
            "exact": ref_out["true_tokens"] == truth,
        }
    result["python_ceiling"] = ceiling
    ceiling_wall = ceiling["processes_1"]["wall_s"]

    # (c)+(d) ours, twice over the same warehouse
    with tempfile.TemporaryDirectory(prefix="local_ingest_") as tmp_s:
        tmp = Path(tmp_s)
        (tmp / "exports").mkdir()
        wh = tmp / "warehouse.duckdb"
        first = ingest_once(corpus, wh, tmp / "exports", tmp, "first")
        second = ingest_once(corpus, wh, tmp / "exports", tmp, "second") if first.get("ok") else None
        tokens = warehouse_tokens(wh, truth_sessions) if first.get("ok") else {}
    ours: dict[str, Any] = {"first_run": first, "second_run_no_changes": second, "warehouse": tokens}
    if first.get("ok"):
        first["mb_per_s"] = round(mb / first["wall_s"], 1)
        first["sessions_per_s"] = round(manifest["sessions"] / first["wall_s"], 1)
        first["mb_per_s_materialize_only"] = round(mb / first["materialize_seconds"], 1)
        if second:
            second["bytes_read_metadata"] = bytes_read(second)
        ours["tokens_exact"] = tokens.get("tokens") == {k: truth[k] for k in tokens.get("tokens", {})}
        ours["tokens_minus_truth"] = {k: v - truth[k] for k, v in tokens.get("tokens", {}).items()}
    result["ours"] = ours
    if not first.get("ok"):
        first = {}  # a failed run has no figures worth a ratio
    result["ratios"] = {
        "ours_over_ccusage_wall": ratio(first.get("wall_s"), cc.get("wall_s")),
        "ours_materialize_over_ccusage_wall": ratio(first.get("materialize_seconds"), cc.get("wall_s")),
        "ours_over_python_ceiling_wall": ratio(first.get("wall_s"), ceiling_wall),
        "ours_peak_rss_over_ccusage": ratio(first.get("peak_rss_mb"), cc.get("peak_rss_mb")),
        "second_over_first_wall": ratio((second or {}).get("wall_s"), first.get("wall_s")),
    }
    result["machine"]["loadavg_after"] = os.getloadavg()
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2) + b"\n")
    print(summary(result, out_path))
    if a.delete_corpus:
        shutil.rmtree(corpus, ignore_errors=True)
    return result


def summary(r: dict[str, Any], out_path: Path) -> str:
    i, cc, ours = r["inputs"], r["ccusage"], r["ours"]
    one, two = r["python_ceiling"]["processes_1"], r["python_ceiling"]["processes_2"]
    f, s = ours["first_run"], ours.get("second_run_no_changes") or {}
    lines = [
        f"corpus: {i['bytes'] / 1e6:.1f} MB, {i['files']} files, {i['lines']} lines, "
        f"{i['sessions']} sessions, {i['projects']} projects (reused={i['corpus_reused']}); "
        f"loadavg {r['machine']['loadavg'][0]:.2f}",
        f"truth total_tokens {r['truth_tokens']['total_tokens']:,}",
    ]
    if not cc.get("skipped"):
        lines.append(
            f"ccusage: {cc['wall_s']:.2f} s, {cc['mb_per_s']} MB/s, peak {cc['peak_rss_mb']} MB, "
            f"total_tokens off by {cc['tokens_minus_truth']['total_tokens']:+,}"
        )
    lines.append(
        f"python ceiling: {one['wall_s']:.2f} s, {one['mb_per_s']} MB/s "
        f"(2 processes: {two['wall_s']:.2f} s, {two['mb_per_s']} MB/s), "
        f"exact={one['exact'] and two['exact']}"
    )
    if f.get("ok"):
        lines.append(
            f"ours (first): {f['wall_s']:.2f} s process ({f['materialize_seconds']:.2f} s materialize), "
            f"{f['mb_per_s']} MB/s, {f['sessions_per_s']} sessions/s, peak {f['peak_rss_mb']} MB"
        )
        lines.append(f"ours (no changes): {s.get('wall_s')} s, bytes read {s.get('bytes_read_metadata')}")
        lines.append(f"ours tokens exact={ours.get('tokens_exact')} diff={ours.get('tokens_minus_truth')}")
    else:
        lines.append(f"ours: FAILED {f.get('error') or f.get('stderr_tail', '')[-800:]}")
    lines.append(f"ratios: {r['ratios']}")
    lines.append(f"written: {out_path}")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
