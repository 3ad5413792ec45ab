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

Probe = list[Any]  # [high-water mark (text or None), row count, hash of (key, marker), keys at mark]


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
    """[mark, count, hash, keys at the mark]: the keys let the next run skip rows it already has."""
    mark, count, digest = con.execute(feed.probe_sql()).fetchone()
    at = (
        []
        if mark is None
        else sorted(r[0] for r in con.execute(feed.keys_at_sql(), {"since": mark}).fetchall())
    )
    return [mark, int(count), digest, at]


def changed_keys(con: duckdb.DuckDBPyConnection, feed: Feed, old: Probe) -> list[str]:
    """Keys changed since the stored probe ``old`` (every key when it had no mark)."""
    if old[0] is None:
        return [r[0] for r in con.execute(f"SELECT DISTINCT CAST({feed.key} AS VARCHAR) FROM "
                                          f"{feed.source} WHERE {feed.where}").fetchall()]  # fmt: skip
    at = old[3] if len(old) > 3 else []
    return [r[0] for r in con.execute(feed.changed_keys_sql(), {"since": old[0], "at": at}).fetchall()]


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
