"""Counts of the unified tables for ``chitty-sync status``."""

from __future__ import annotations

from typing import Any

from chitty_pipelines.warehouse import Warehouse


def unified_counts(warehouse: Warehouse) -> dict[str, Any]:
    """Projects, sessions by status, topics (0 where a table was never built). ``topics`` counts
    every row of unified.topics (subcategories included); ``topic_categories`` only the
    categories, the number ``/api/status`` reports as ``topics.categories``."""
    counts: dict[str, Any] = {
        "projects": 0, "sessions": 0, "active": 0, "stale": 0, "ended": 0, "topics": 0, "topic_categories": 0
    }  # fmt: skip
    if not warehouse.exists():
        return counts
    with warehouse.connect() as con:
        have = {
            t for (t,) in con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'unified'"
            ).fetchall()
        }  # fmt: skip
        if "projects" in have:
            counts["projects"] = int(con.execute("SELECT count(*) FROM unified.projects").fetchone()[0])
        if "sessions" in have:
            for status, n in con.execute(
                "SELECT status, count(*) FROM unified.sessions GROUP BY ALL"
            ).fetchall():
                counts[status] = int(n)
                counts["sessions"] += int(n)
        if "topics" in have:
            counts["topics"] = int(con.execute("SELECT count(*) FROM unified.topics").fetchone()[0])
            counts["topic_categories"] = int(
                con.execute(
                    "SELECT count(DISTINCT topic_id) FROM unified.topics WHERE level = 'category'"
                ).fetchone()[0]
            )
    return counts
