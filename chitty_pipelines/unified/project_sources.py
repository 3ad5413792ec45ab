"""Reading project source records from whatever platform tables exist.

A missing ``raw_*`` table means that source is empty (the platform was never configured or
synced): every read first asks information_schema, so the unified assets work with any subset of
platforms, including only the local one.
"""

from __future__ import annotations

import re
import subprocess
from functools import lru_cache
from pathlib import Path, PurePosixPath
from typing import Any

import duckdb

from chitty_pipelines.unified.resolution import SourceRecord
from chitty_pipelines.warehouse import Warehouse

GITHUB_URL = re.compile(
    r"(?:https?://|git@)github\.com[/:]([\w.-]+)/([\w.-]+?)(?:\.git)?(?=[\s\"'/#?)]|$)", re.I
)


def existing_tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    return {
        f"{s}.{t}"
        for s, t in con.execute("SELECT table_schema, table_name FROM information_schema.tables").fetchall()
    }


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
    cur = con.execute(sql, params or [])
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


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


def read_sources(
    warehouse: Warehouse,
    registered: list[dict[str, Any]],
    notion_database_pattern: str = "project",
    drive_project_parents: tuple[str, ...] = ("projects",),
    lookup_git_remotes: bool = True,
) -> tuple[list[SourceRecord], dict[str, int]]:
    """Every project source record, and how many each source contributed."""
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
        if "raw_github.repositories" in have:
            for r in _rows(
                con,
                "SELECT repo_id, full_name, name, html_url, coalesce(pushed_at, updated_at) AS at "
                "FROM raw_github.repositories",
            ):
                records.append(
                    SourceRecord(
                        "github", "raw_github.repositories", r["full_name"] or str(r["repo_id"]), r["name"],
                        git_remote=r["html_url"] or f"https://github.com/{r['full_name']}",
                        last_activity_at=r["at"], extra={"full_name": r["full_name"]},
                    )
                )  # fmt: skip
        if "raw_github.project_states" in have:
            for r in _rows(
                con,
                "SELECT project, project_name, project_path, last_activity, total_sessions "
                "FROM raw_github.project_states",
            ):
                records.append(
                    SourceRecord(
                        "chittychat_data", "raw_github.project_states", r["project"],
                        r["project_name"] or r["project"], r["project_path"],
                        last_activity_at=r["last_activity"],
                    )
                )  # fmt: skip
        if "raw_github.projects" in have:
            for r in _rows(con, "SELECT project_id, name FROM raw_github.projects"):
                records.append(
                    SourceRecord(
                        "chittychat_data",
                        "raw_github.projects",
                        r["project_id"],
                        r["name"] or r["project_id"],
                    )
                )
        if "raw_local.claude_sessions" in have:
            for r in _rows(
                con,
                "SELECT project_path, count(*) AS n, max(last_at) AS at FROM raw_local.claude_sessions "
                "WHERE project_path IS NOT NULL AND project_path <> '' GROUP BY ALL ORDER BY 1",
            ):
                path = r["project_path"]
                records.append(
                    SourceRecord(
                        "claude_code", "raw_local.claude_sessions", path, PurePosixPath(path).name,
                        path, git_remote_of(path) if lookup_git_remotes else None, r["at"], int(r["n"]),
                    )
                )  # fmt: skip
        if "raw_notion.pages" in have and "raw_notion.databases" in have:
            for r in _rows(
                con,
                "SELECT p.page_id, p.title, p.last_edited_time AS at, CAST(p.properties AS VARCHAR) AS props "
                "FROM raw_notion.pages p JOIN raw_notion.databases d ON d.table_id = p.table_id "
                "WHERE NOT coalesce(p.is_deleted, false) AND d.title ILIKE ? AND coalesce(p.title, '') <> ''",
                [f"%{notion_database_pattern}%"],
            ):
                m = GITHUB_URL.search(r["props"] or "")
                remote = f"https://github.com/{m.group(1)}/{m.group(2)}" if m else None
                records.append(
                    SourceRecord(
                        "notion", "raw_notion.pages", r["page_id"], r["title"], git_remote=remote,
                        last_activity_at=r["at"],
                    )
                )  # fmt: skip
        if "raw_drive.files" in have:
            for r in _rows(
                con,
                "SELECT id, name, path, modified_time AS at FROM raw_drive.files "
                "WHERE is_folder AND NOT coalesce(trashed, false)",
            ):
                parts = [p for p in (r["path"] or r["name"] or "").split("/") if p]
                top = len(parts) == 1 and parts[0].lower() not in drive_project_parents
                under = len(parts) == 2 and parts[0].lower() in drive_project_parents
                if top or under:
                    records.append(
                        SourceRecord("drive", "raw_drive.files", r["id"], r["name"], last_activity_at=r["at"])
                    )
    counts: dict[str, int] = {}
    for rec in records:
        counts[rec.source_table] = counts.get(rec.source_table, 0) + 1
    return records, counts
