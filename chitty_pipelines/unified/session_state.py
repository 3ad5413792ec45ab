"""What a unified/sessions run must do: nothing, the changed sessions only, or everything.

State, in ops.sync_cursors (platform ``unified``, stream ``sessions``), written in the same
transaction as the sessions:

* one probe per feed (kernel/feeds.py: high-water mark, row count, key hash) and one for the
  registered sessions of the operational store;
* ``links``: a digest of the projects and aliases sessions are linked by;
* ``clock``: the ``now`` and TTL of the last run.

And ops.unified_session_sources: which feed and source key each session came from, and whether it
heartbeats (so the clock can move its status without reading its source).

Full rebuilds, with the reason in the asset's metadata: first run, full_refresh, a source lost
rows (a deletion), the links changed, the TTL changed or the clock went backwards.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import duckdb

from chitty_pipelines.unified import feed_reader
from chitty_pipelines.unified.session_sources import REGISTERED_FEED
from chitty_pipelines.warehouse import TableSpec, cols

SESSION_SOURCES = TableSpec(
    "ops",
    "unified_session_sources",
    cols(
        ("session_key", "VARCHAR"),
        ("feed", "VARCHAR", "the feed (kernel/feeds.py name) or 'registered'"),
        ("source_key", "VARCHAR", "the feed's key of the source row"),
        ("heartbeat_based", "BOOLEAN", "stale, not ended, when silent"),
    ),
    primary_key=("session_key",),
    description="Where each unified session came from: lets the clock move statuses, and k changed "
    "source rows re-derive k sessions.",
)


@dataclass
class Plan:
    full: bool = False
    reason: str = ""
    feed_keys: dict[str, list[str]] = field(default_factory=dict)  # feed -> changed source keys
    probes: dict[str, Any] = field(default_factory=dict)
    links: str = ""
    now: datetime | None = None
    ttl: float = 0.0
    since: str = ""  # when the previous run built the table
    clock_moved: bool = False  # active sessions may have gone silent

    @property
    def skip(self) -> bool:
        return not self.full and not any(self.feed_keys.values()) and not self.clock_moved

    def cursors(self, built_at: datetime) -> dict[str, Any]:
        return {
            **{f"feed:{name}": p for name, p in self.probes.items()},
            "links": self.links,
            "clock": {"now": self.now.isoformat() if self.now else None, "ttl": self.ttl},
            "built_at": built_at.isoformat(),
        }


def _silent_possible(con: duckdb.DuckDBPyConnection, have: set[str], now: datetime, ttl: float) -> bool:
    if "unified.sessions" not in have:
        return False
    from datetime import timedelta

    return bool(con.execute(
        "SELECT count(*) FROM unified.sessions WHERE status = 'active' AND last_active_at < ?",
        [now - timedelta(seconds=ttl)],
    ).fetchone()[0])  # fmt: skip


def plan(
    con: duckdb.DuckDBPyConnection,
    have: set[str],
    stored: dict[str, Any],
    registered: list[dict[str, Any]],
    registered_changed_at: Callable[[dict[str, Any]], str],
    links: str,
    now: datetime,
    ttl: float,
    full_refresh: bool,
    can_mint: bool = False,
) -> Plan:
    out = Plan(links=links, now=now, ttl=ttl, since=str(stored.get("built_at") or ""))
    marks = [registered_changed_at(r) for r in registered]
    mark = max(marks, default=None)
    at = sorted(r["session_id"] for r, m in zip(registered, marks, strict=True) if m == mark)
    out.probes[REGISTERED_FEED] = [mark, len(registered), None, at]
    for feed in feed_reader.feeds("session"):
        if feed_reader.available(feed, have):
            out.probes[feed.name] = feed_reader.probe(con, feed)
    clock = stored.get("clock") or {}
    last_now = datetime.fromisoformat(clock["now"]) if clock.get("now") else None
    if full_refresh:
        out.full, out.reason = True, "full refresh"
    elif "unified.sessions" not in have or "ops.unified_session_sources" not in have or not stored:
        out.full, out.reason = True, "first run"
    elif stored.get("links") != links:
        out.full, out.reason = True, "projects or aliases changed: every session is re-linked"
    elif clock.get("ttl") != ttl:
        out.full, out.reason = True, "the TTL changed"
    elif last_now is not None and now < last_now:
        out.full, out.reason = True, "the clock went backwards"
    if out.full:
        return out
    for name, probe in out.probes.items():
        old = stored.get(f"feed:{name}")
        if old == probe:
            continue
        if old is None or probe[1] < old[1] or probe[0] is None:
            out.full = True  # a new source, a deletion, or no change column: rebuilt whole
            out.reason = f"{name}: {'new source' if old is None else 'rows removed or no change marker'}"
            return out
        if name == REGISTERED_FEED:
            at = set(old[3]) if len(old) > 3 else set()
            out.feed_keys[name] = [
                r["session_id"] for r in registered
                if registered_changed_at(r) > old[0]
                or (registered_changed_at(r) == old[0] and r["session_id"] not in at)
            ]  # fmt: skip
        else:
            feed = next(f for f in feed_reader.feeds("session") if f.name == name)
            out.feed_keys[name] = feed_reader.changed_keys(con, feed, old)
    out.clock_moved = _silent_possible(con, have, now, ttl)
    changed = sum(len(v) for v in out.feed_keys.values())
    pending = _local_ids(con, have) if can_mint else []
    for feed_name, key in pending:  # sessions still on a local id: the id service may mint now
        keys = out.feed_keys.setdefault(feed_name, [])
        if key not in keys:
            keys.append(key)
    out.reason = f"incremental: {changed} changed source row(s)" + (
        ", clock moved" if out.clock_moved else "") + (
        f", {len(pending)} local id(s) to mint" if pending else "")  # fmt: skip
    return out


def _local_ids(con: duckdb.DuckDBPyConnection, have: set[str]) -> list[tuple[str, str]]:
    if "ops.chitty_ids" not in have:
        return []
    return [tuple(r) for r in con.execute(
        f"SELECT feed, source_key FROM {SESSION_SOURCES.sql_name} WHERE session_key IN "
        "(SELECT canonical_key FROM ops.chitty_ids WHERE entity_type = 'session' AND id_source = 'local')"
    ).fetchall()]  # fmt: skip
