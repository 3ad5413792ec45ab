"""Reading the platforms' feeds (kernel/feeds.py) into rows: the unified layer's one way in.

Nothing here knows a platform: the registry lists every feed, each feed brings its SQL. A feed
whose tables do not all exist yields nothing (that platform was never configured or synced).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import duckdb

from chitty_pipelines.kernel.feeds import Feed
from chitty_pipelines.platforms import registry

Probe = list[Any]  # [high-water mark (text or None), row count, hash of every (key, marker)]


def existing_tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    return {
        f"{s}.{t}"
        for s, t in con.execute("SELECT table_schema, table_name FROM information_schema.tables").fetchall()
    }


def rows_of(con: duckdb.DuckDBPyConnection, sql: str, params: Any = None) -> list[dict[str, Any]]:
    cur = con.execute(sql, params or [])
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def feeds(entity: str) -> list[Feed]:
    return registry.feeds(entity)


def available(feed: Feed, have: set[str]) -> bool:
    return all(t in have for t in feed.tables)


def probe(con: duckdb.DuckDBPyConnection, feed: Feed) -> Probe:
    mark, count, digest = con.execute(feed.probe_sql()).fetchone()
    return [mark, int(count), digest]


def diff_keys(
    con: duckdb.DuckDBPyConnection, feed: Feed, state_table: str | None
) -> tuple[dict[str, str], list[str]]:
    """({changed or new key: its marker}, [removed keys]) against the markers stored in
    ``state_table`` (feed, source_key, marker); every key is new when there is no table yet."""
    if state_table is None:
        return dict(con.execute(feed.markers_sql()).fetchall()), []
    cur = f"({feed.markers_sql()})"
    changed = con.execute(
        f"SELECT c.source_key, c.marker FROM {cur} c LEFT JOIN {state_table} s "
        "ON s.feed = $feed AND s.source_key = c.source_key WHERE s.marker IS DISTINCT FROM c.marker",
        {"feed": feed.name},
    ).fetchall()
    removed = con.execute(
        f"SELECT source_key FROM {state_table} WHERE feed = $feed "
        f"AND source_key NOT IN (SELECT source_key FROM {cur})",
        {"feed": feed.name},
    ).fetchall()
    return dict(changed), [r[0] for r in removed]


def read(
    con: duckdb.DuckDBPyConnection,
    feed: Feed,
    params: Mapping[str, Any] | None = None,
    keys: Iterable[str] | None = None,
) -> list[dict[str, Any]]:
    """The feed's rows in target columns (plus ``source_key``); only ``keys`` when given."""
    bound = {p: (params or {})[p] for p in feed.params}
    if keys is None:
        return rows_of(con, feed.select_sql(keyed=False), bound or None)
    keys = list(keys)
    if not keys:
        return []
    return rows_of(con, feed.select_sql(keyed=True), {**bound, "feed_keys": keys})
