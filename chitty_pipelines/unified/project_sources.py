"""Project source records from the platforms' project feeds (kernel/feeds.py) and the
operational store.

A feed whose tables are missing is empty (the platform was never configured or synced), so the
unified assets work with any subset of platforms, including only the local one.
"""

from __future__ import annotations

import subprocess
from functools import lru_cache
from pathlib import Path
from typing import Any

import duckdb

from chitty_pipelines.unified import feed_reader
from chitty_pipelines.unified.feed_reader import existing_tables
from chitty_pipelines.unified.resolution import SourceRecord
from chitty_pipelines.warehouse import Warehouse


@lru_cache(maxsize=4096)
def git_remote_of(path: str) -> str | None:
    """``origin`` of a working directory that exists on this machine (None otherwise)."""
    if not path or not Path(path).is_dir():
        return None
    try:
        done = subprocess.run(
            ["git", "-C", path, "remote", "get-url", "origin"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None


def project_feeds_probe(con: duckdb.DuckDBPyConnection) -> dict[str, feed_reader.Probe]:
    """The probe of every available project feed: equal to the stored one, no source changed."""
    have = existing_tables(con)
    return {
        f.name: feed_reader.probe(con, f)
        for f in feed_reader.feeds("project")
        if feed_reader.available(f, have)
    }


def read_sources(
    warehouse: Warehouse,
    registered: list[dict[str, Any]],
    params: dict[str, Any],
    lookup_git_remotes: bool = True,
) -> tuple[list[SourceRecord], dict[str, int]]:
    """Every project source record (registered projects, then every platform's project feeds),
    and how many each source table contributed. ``params`` feeds the feeds' named parameters."""
    records: list[SourceRecord] = [
        SourceRecord(
            "registered",
            "opstore.projects",
            p["project_key"],
            p["name"],
            p.get("path"),
            p.get("git_remote"),
            registered_key=p["project_key"],
        )
        for p in registered
    ]
    with warehouse.connect() as con:
        have = existing_tables(con)
        for feed in feed_reader.feeds("project"):
            if not feed_reader.available(feed, have):
                continue
            for r in feed_reader.read(con, feed, params):
                path = r["path"]
                remote = r["git_remote"]
                if feed.working_directories and lookup_git_remotes and remote is None:
                    remote = git_remote_of(path)
                records.append(
                    SourceRecord(
                        feed.project_kind, feed.source, str(r["source_id"]), r["name"], path, remote,
                        r["last_active_at"], int(r["record_count"] or 1),
                        extra={"full_name": r["full_name"]} if r["full_name"] else {},
                        rank=feed.project_rank, code=feed.code, workdir=feed.working_directories,
                    )
                )  # fmt: skip
    counts: dict[str, int] = {}
    for rec in records:
        counts[rec.source_table] = counts.get(rec.source_table, 0) + 1
    return records, counts
