"""Drive incremental sync: k changes cost O(k) requests, paths and trash flags of descendants are
re-derived without reading them, and the result equals a full listing, with or without faults."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from drive_support import (
    api_requests,
    contents_table,
    files_table,
    materialize,
    rows,
    seed,
    seeded_fake,
    set_env,
    start_fake,
)

from chitty_pipelines.kernel.fake_server import Faults
from chitty_pipelines.platforms.drive.fake import FakeDrive
from chitty_pipelines.platforms.drive.resource import DriveResource
from tests.warehouse_support import warehouse_resource_at

# Every column except the raw resource (a descendant of a moved or trashed folder keeps the raw
# metadata it was last sent with; its derived columns are what must match a fresh listing).
COLUMNS = (
    "id, name, path, mime_type, is_folder, parent_id, parents, size_bytes, md5, modified_time, created_time, "
    "version, owners, trashed, drive_id, web_view_link"
)


@pytest.fixture
def fake(chitty_home, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeDrive]:
    with seeded_fake(monkeypatch) as fake:
        yield fake


def _fresh_listing(tmp_path: Path, name: str) -> tuple[list[tuple], list[tuple]]:
    """What a first sync into an empty warehouse sees now."""
    wr = warehouse_resource_at(tmp_path / f"{name}.duckdb", lock_timeout_s=60)
    materialize(wr)
    return files_table(wr.get(), COLUMNS), contents_table(wr.get())


def _apply_k_changes(fake: FakeDrive) -> None:
    fake.update("jalpha", '{"name": "alpha", "status": "done"}')  # content changed: re-read
    fake.add("gamma.json", "fprojects", content='{"name": "gamma"}', mime_type="application/json",
             file_id="jgamma")  # fmt: skip
    fake.move("fcalpha", "fprojects")  # consolidated/alpha -> projects/alpha: state.json's path changes
    fake.rename("fnotes", "notes-2026")  # five descendants' paths change
    fake.trash("ttodo")
    fake.delete("jbroken")
    fake.update("bphoto", b"\x89PNG new bytes")  # metadata only: binary content is never read
    fake.add("ignored.txt", "felsewhere", content="outside the folder", file_id="tignored")


def test_k_changes_cost_k_requests_and_match_a_full_listing(
    fake: FakeDrive, warehouse_resource, warehouse, tmp_path: Path
) -> None:
    materialize(warehouse_resource)
    _apply_k_changes(fake)
    fake.reset_counters()
    materialize(warehouse_resource)

    # One changes page; downloads only for the two text files whose md5 changed or that are new.
    assert api_requests(fake) == {
        "GET /drive/v3/changes": 1,
        "GET /drive/v3/files/jalpha": 1,
        "GET /drive/v3/files/jgamma": 1,
        "POST /token": 1,
    }
    assert files_table(warehouse, "path, trashed") == [
        ("consolidated", False),
        ("notes-2026", False),
        ("notes-2026/Design Doc", False),
        ("notes-2026/big.txt", False),
        ("notes-2026/photo.png", False),
        ("notes-2026/readme.md", False),
        ("notes-2026/todo.txt", True),
        ("projects", False),
        ("projects/alpha", False),
        ("projects/alpha.json", False),
        ("projects/alpha/state.json", False),
        ("projects/beta.json", False),
        ("projects/gamma.json", False),
    ]
    # Trashed and deleted files lose their content rows; the reject of the deleted file stays
    # in ops.rejects as history.
    assert [r[0] for r in contents_table(warehouse)] == [
        "notes-2026/Design Doc",
        "notes-2026/big.txt",
        "notes-2026/readme.md",
        "projects/alpha.json",
        "projects/alpha/state.json",
        "projects/beta.json",
        "projects/gamma.json",
    ]
    assert rows(warehouse, "SELECT json FROM raw_drive.file_contents WHERE file_id = 'jalpha'") == [
        ('{"name": "alpha", "status": "done"}',)
    ]
    assert files_table(warehouse, COLUMNS) == _fresh_listing(tmp_path, "fresh")[0]
    assert contents_table(warehouse) == _fresh_listing(tmp_path, "fresh2")[1]


def test_trashed_folder_and_folder_moved_in(fake: FakeDrive, warehouse_resource, warehouse, tmp_path) -> None:
    materialize(warehouse_resource)
    fake.trash("fconsolidated")  # only the folder is in the feed; descendants inherit the flag
    fake.add_folder("archive", "felsewhere", file_id="farchive")
    fake.add("old.md", "farchive", content="# old", mime_type="text/markdown", file_id="mold")
    fake.move("farchive", "fnotes")  # a subtree enters the folder: it is listed, nothing else
    fake.reset_counters()
    materialize(warehouse_resource)
    reqs = api_requests(fake)
    assert reqs == {
        "GET /drive/v3/changes": 1,
        "GET /drive/v3/files": 1,
        "GET /drive/v3/files/mold": 1,
        "POST /token": 1,
    }
    assert rows(warehouse, "SELECT path, trashed FROM raw_drive.files WHERE path LIKE 'consolidated%' "
                "OR path LIKE 'notes/archive%' ORDER BY path") == [
        ("consolidated", True),
        ("consolidated/alpha", True),
        ("consolidated/alpha/state.json", True),
        ("notes/archive", False),
        ("notes/archive/old.md", False),
    ]  # fmt: skip
    assert rows(warehouse, "SELECT count(*) FROM raw_drive.file_contents WHERE file_id = 'jstate'") == [(0,)]
    assert files_table(warehouse, COLUMNS) == _fresh_listing(tmp_path, "fresh")[0]

    fake.trash("fconsolidated", False)  # restored: descendants come back without being re-read
    fake.move("farchive", "felsewhere")  # and the subtree leaves again
    fake.reset_counters()
    materialize(warehouse_resource)
    assert api_requests(fake) == {
        "GET /drive/v3/changes": 1,
        "GET /drive/v3/files/jstate": 1,  # its content row was dropped while trashed
        "POST /token": 1,
    }
    assert rows(
        warehouse, "SELECT count(*) FROM raw_drive.files WHERE trashed OR path LIKE 'notes/archive%'"
    ) == [(0,)]
    assert files_table(warehouse, COLUMNS) == _fresh_listing(tmp_path, "fresh2")[0]


def test_changes_feed_pages_are_followed(fake: FakeDrive, warehouse_resource, warehouse, monkeypatch) -> None:
    materialize(warehouse_resource)
    for i in range(7):
        fake.add(
            f"n{i}.bin", "fprojects", content=b"\x00", mime_type="application/octet-stream", file_id=f"b{i}"
        )
    fake.reset_counters()
    drive = DriveResource.from_settings(page_size=3)
    materialize(warehouse_resource, drive=drive)
    assert api_requests(fake) == {"GET /drive/v3/changes": 3, "POST /token": 1}
    assert rows(warehouse, "SELECT count(*) FROM raw_drive.files WHERE name LIKE 'n%.bin'") == [(7,)]


def test_twenty_percent_faults_give_the_same_tables(chitty_home, monkeypatch, tmp_path: Path) -> None:
    """The same seed, changes and syncs, once clean and once with 20% 429/403/5xx/dropped
    connections: identical tables, and the faulty run really did meet faults."""
    outcomes = []
    for faults in (Faults(), Faults(rate=0.2, statuses=(429, 403, 500, 502, 503), drop=True, seed=11)):
        fake = start_fake(faults)
        try:
            seed(fake)
            set_env(monkeypatch, fake)
            drive = DriveResource.from_settings(max_wait_s=0.02, attempts=10)
            wr = warehouse_resource_at(tmp_path / f"faults-{faults.rate}.duckdb", lock_timeout_s=60)
            materialize(wr, drive=drive)
            _apply_k_changes(fake)
            materialize(wr, drive=drive)
            fake.trash("fconsolidated")
            materialize(wr, drive=drive)
            failed = sum(1 for _m, _p, status in fake.log if status != 200)
            outcomes.append((files_table(wr.get(), COLUMNS), contents_table(wr.get()), failed))
        finally:
            fake.stop()
    (clean_files, clean_contents, clean_failed), (files, contents, failed) = outcomes
    assert clean_failed == 0 and failed >= 3
    assert files == clean_files and len(files) == 13
    assert contents == clean_contents
