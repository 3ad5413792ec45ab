"""The neon_extract benchmark at a tiny size: it runs end to end and its numbers add up."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_bench_neon_extract_smoke(tmp_path):
    out = tmp_path / "neon_extract.json"
    subprocess.run(
        [sys.executable, "-m", "bench.neon_extract.run", "--smoke", "--rows", "3000", "--out", str(out)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=300,
    )
    report = json.loads(out.read_text())
    assert report["baseline_raw_copy"]["rows"] == 3000
    assert report["asset_incremental"]["row_count"] == 3000
    assert report["asset_incremental"]["bytes_read"] == report["baseline_raw_copy"]["bytes"]
    assert report["asset_backfill_10_days"]["row_count"] == 3000
    assert report["asset_backfill_10_days"]["materializations"] == 10
    # The re-sync reads only the 600 s look-back: 3000 rows over 10 days is one per 288 s.
    assert report["resync_no_change"]["rows_written"] == 3
    assert all(report[k]["peak_rss_mb"] > 0 for k in ("baseline_raw_copy", "asset_incremental"))
