"""What a unified/sessions run must do: nothing, the changed sessions only, or everything.

State, written in the same transaction as the sessions:

* ops.sync_cursors (platform ``unified``, stream ``sessions``): one probe per feed (kernel/feeds.py:
  high-water mark, row count, hash of every key and marker) and one for the registered sessions
  of the operational store; ``links``, a digest of the projects and aliases sessions are linked
  by; ``clock``, the ``now`` and TTL of the last run. An unchanged probe: nothing is read.
* ops.unified_feed_keys: the marker of every source key. A changed probe compares the current
  markers with these (one SQL join) to find the changed, new and removed keys.
* ops.unified_session_sources: which feed and source key each session came from, and whether it
  heartbeats (so the clock can move its status without reading its source, and a removed or
  changed source row takes exactly its own sessions with it).

Full rebuilds, with the reason in the asset's metadata: first run, full_refresh, the links
changed, the TTL changed or the clock went backwards.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
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

FEED_KEYS = TableSpec(
    "ops",
    "unified_feed_keys",
    cols(
        ("feed", "VARCHAR"),
        ("source_key", "VARCHAR"),
        ("marker", "VARCHAR", "hash of the key's change markers when it was last derived"),
    ),
    primary_key=("feed", "source_key"),
    description="The change marker of every source key unified last derived, per feed.",
)


@dataclass
class Plan:
    full: bool = False
    reason: str = ""
    feed_keys: dict[str, list[str]] = field(default_factory=dict)  # feed -> changed or new keys
    removed: dict[str, list[str]] = field(default_factory=dict)  # feed -> keys gone from the source
    markers: list[dict[str, str]] = field(default_factory=list)  # FEED_KEYS rows to write
    probes: dict[str, Any] = field(default_factory=dict)
    links: str = ""
    now: datetime | None = None
    ttl: float = 0.0
    since: str = ""  # when the previous run built the table
    clock_moved: bool = False  # active sessions may have gone silent

    @property
    def skip(self) -> bool:
        work = any(self.feed_keys.values()) or any(self.removed.values())
        return not self.full and not work and not self.clock_moved

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
    return bool(con.execute(
        "SELECT count(*) FROM unified.sessions WHERE status = 'active' AND last_active_at < ?",
        [now - timedelta(seconds=ttl)],
    ).fetchone()[0])  # fmt: skip


def _full_reason(have: set[str], stored: dict[str, Any], links: str, now: datetime, ttl: float) -> str:
    clock = stored.get("clock") or {}
    last_now = datetime.fromisoformat(clock["now"]) if clock.get("now") else None
    tables = ("unified.sessions", SESSION_SOURCES.qualified, FEED_KEYS.qualified)
    if not stored or not all(t in have for t in tables):
        return "first run"
    if stored.get("links") != links:
        return "projects or aliases changed: every session is re-linked"
    if clock.get("ttl") != ttl:
        return "the TTL changed"
    if last_now is not None and now < last_now:
        return "the clock went backwards"
    return ""


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
    reg_markers = {r["session_id"]: registered_changed_at(r) for r in registered}
    digest = hashlib.sha1(json.dumps(sorted(reg_markers.items())).encode()).hexdigest()
    out.probes[REGISTERED_FEED] = [max(reg_markers.values(), default=None), len(registered), digest]
    feeds = [f for f in feed_reader.feeds("session") if feed_reader.available(f, have)]
    for feed in feeds:
        out.probes[feed.name] = feed_reader.probe(con, feed)
    out.reason = "full refresh" if full_refresh else _full_reason(have, stored, links, now, ttl)
    out.full = bool(out.reason)
    state = None if out.full else FEED_KEYS.sql_name
    for feed in feeds:
        if out.full or stored.get(f"feed:{feed.name}") != out.probes[feed.name]:
            changed, removed = feed_reader.diff_keys(con, feed, state)
            out.feed_keys[feed.name], out.removed[feed.name] = sorted(changed), removed
            out.markers += [{"feed": feed.name, "source_key": k, "marker": m} for k, m in changed.items()]
    if not out.full:  # a feed whose tables are gone: every session it gave goes too
        live = {f.name for f in feeds} | {REGISTERED_FEED}
        for row in con.execute(f"SELECT feed, source_key FROM {FEED_KEYS.sql_name}").fetchall():
            if row[0] not in live:
                out.removed.setdefault(row[0], []).append(row[1])
    _registered(con, out, stored, reg_markers)
    if out.full:
        return out
    out.clock_moved = _silent_possible(con, have, now, ttl)
    pending = _local_ids(con, have) if can_mint else []
    for feed_name, key in pending:  # sessions still on a local id: the id service may mint now
        keys = out.feed_keys.setdefault(feed_name, [])
        if key not in keys:
            keys.append(key)
    changed = sum(len(v) for v in out.feed_keys.values()) - len(pending)
    removed = sum(len(v) for v in out.removed.values())
    out.reason = f"incremental: {changed} changed and {removed} removed source key(s)" + (
        ", clock moved" if out.clock_moved else "") + (
        f", {len(pending)} local id(s) to mint" if pending else "")  # fmt: skip
    return out


def _registered(
    con: duckdb.DuckDBPyConnection, out: Plan, stored: dict[str, Any], markers: dict[str, str]
) -> None:
    """The operational store's sessions: the same per-key comparison, in Python (it is SQLite)."""
    if not out.full and stored.get(f"feed:{REGISTERED_FEED}") == out.probes[REGISTERED_FEED]:
        return
    old = {} if out.full else dict(con.execute(
        f"SELECT source_key, marker FROM {FEED_KEYS.sql_name} WHERE feed = ?", [REGISTERED_FEED]
    ).fetchall())  # fmt: skip
    changed = sorted(k for k, m in markers.items() if old.get(k) != m)
    out.feed_keys[REGISTERED_FEED] = changed
    out.removed[REGISTERED_FEED] = sorted(set(old) - set(markers))
    out.markers += [{"feed": REGISTERED_FEED, "source_key": k, "marker": markers[k]} for k in changed]


def _local_ids(con: duckdb.DuckDBPyConnection, have: set[str]) -> list[tuple[str, str]]:
    if "ops.chitty_ids" not in have:
        return []
    return [tuple(r) for r in con.execute(
        f"SELECT feed, source_key FROM {SESSION_SOURCES.sql_name} WHERE session_key IN "
        "(SELECT canonical_key FROM ops.chitty_ids WHERE entity_type = 'session' AND id_source = 'local')"
    ).fetchall()]  # fmt: skip


def sessions_of(con: duckdb.DuckDBPyConnection, keys: dict[str, list[str]]) -> set[str]:
    """The stored sessions that came from these (feed, source keys)."""
    out: set[str] = set()
    for feed_name, ks in keys.items():
        if ks:
            out |= {r[0] for r in con.execute(
                f"SELECT session_key FROM {SESSION_SOURCES.sql_name} WHERE feed = ? "
                "AND source_key IN (SELECT unnest(?))", [feed_name, ks]).fetchall()}  # fmt: skip
    return out
