"""The Drive benchmark's smoke size runs and counts requests exactly (no latency: seconds)."""

from __future__ import annotations

from bench.api_platforms.bench_drive import run


def test_bench_drive_smoke() -> None:
    result = run(latency_s=0.0, smoke=True)
    assert result["inputs"]["files"] == 500 and result["inputs"]["folders"] == 12
    rows = 500 + 12
    assert result["ours_full_sync"]["rows"] == result["baseline_plain_walk"]["rows"] == rows
    # Three folder levels, listed level by level, against one query per folder (13) for the walk.
    assert result["ours_full_sync_metadata_only"]["requests_by_kind"] == {
        "changes.getStartPageToken": 1,
        "files.get(root)": 1,
        "files.list": 3,
        "token": 1,
    }
    assert result["baseline_plain_walk"]["requests_by_kind"] == {"files.list": 13, "token": 1}
    assert result["ours_resync_no_change"]["requests_by_kind"] == {"changes.list": 1, "token": 1}
    assert result["ours_resync_k_changes"]["requests_by_kind"] == {
        "changes.list": 1,
        "files.get(media)": 5,
        "token": 1,
    }
    assert result["ours_resync_k_changes"]["rows_written"] == 10
