"""The neon_extract benchmark at a tiny size: it runs end to end and its numbers add up. (The
``chitty-sync`` subprocess contenders are left out here: a syncall alone takes ~40 s.)"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SMOKE = ["--smoke", "--rows", "3000", "--repeat", "1", "--no-cli"]


@pytest.mark.slow
def test_bench_neon_extract_smoke(tmp_path):
    out = tmp_path / "neon_extract.json"
    subprocess.run(
        [sys.executable, "-m", "bench.neon_extract.run", *SMOKE, "--out", str(out)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=300,
    )
    report = json.loads(out.read_text())
    assert report["baseline_raw_copy_csv"]["last"]["rows"] == 3000
    assert report["raw_copy_binary"]["last"]["rows"] == 3000
    first = report["asset_first_sync"]["last"]
    assert first["row_count"] == first["rows_written"] == 3000
    assert first["bytes_read"] > 0 and first["chunks"] == 1
    # The re-sync reads only the 600 s look-back: 3000 rows over 10 days is one per 288 s.
    assert report["resync_no_change"]["rows_written"] == 3
    assert report["asset_first_sync"]["peak_rss_mb_max"] > 0
    assert report["ratios"]["asset_vs_raw_copy_rows_per_s_median"] > 0
