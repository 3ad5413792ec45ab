"""Session source rows from the platform tables (any subset present) and the operational store,
and the status rule.

Status (as of a clock the asset takes from its config, so transitions are testable):

* registered sessions (``chitty-sync sessionsync``, any AI tool) promise heartbeats:
  ``ended`` once ended explicitly; ``active`` while the last heartbeat is at most TTL old;
  ``stale`` when heartbeats stopped (older than TTL, never ended). A later heartbeat makes a
  stale session active again.
* sessions a platform feed declares heartbeat-based (their source heartbeats) behave like
  registered ones.
* the others (transcripts and exports) have no heartbeat and no end marker: ``active`` while
  their last message is at most TTL old, else ``ended`` at their last message. Silence is how
  these sessions end, so they are never ``stale``.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import duckdb

from chitty_pipelines.kernel.feeds import Feed
from chitty_pipelines.unified import feed_reader
from chitty_pipelines.unified.feed_reader import existing_tables
from chitty_pipelines.warehouse.opstore import parse_ts

SUMMARY_CHARS = 2000
REGISTERED_FEED = "registered"  # sessions registered through the API/CLI (the operational store)


def session_status(
    last_active: datetime | None,
    ended_at: datetime | None,
    now: datetime,
    ttl_s: float,
    heartbeat_based: bool,
) -> tuple[str, datetime | None]:
    """(status, ended_at) by the rule in the module docstring."""
    if ended_at is not None:
        return "ended", ended_at
    if last_active is not None and now - last_active <= timedelta(seconds=ttl_s):
        return "active", None
    if heartbeat_based:
        return "stale", None
    return "ended", last_active


def summary_text(title: str | None, prompts: list[str] | None) -> str:
    parts = [p.strip() for p in [title or "", *(prompts or [])] if p and p.strip()]
    seen: list[str] = []
    for p in parts:  # a title that is the first prompt (Claude's fallback) is said once
        if p not in seen:
            seen.append(p)
    return "\n".join(seen)[:SUMMARY_CHARS]


def feed_session(r: dict[str, Any], feed: Feed) -> dict[str, Any]:
    """A feed row (kernel/feeds.py session columns) as a session source row."""
    lead = r["summary_title"] if "summary_title" in feed.columns else r["title"]
    out = {k: v for k, v in r.items() if k not in ("prompts", "summary_title")}
    out["is_subagent"] = bool(r["is_subagent"])
    out["heartbeat_based"] = bool(r["heartbeat_based"])
    out["link"] = r["link"] or "none"
    out["summary_text"] = summary_text(lead, r["prompts"])
    out["feed"] = feed.name
    return out


def file_sessions(
    con: duckdb.DuckDBPyConnection, only: dict[str, list[str]] | None = None
) -> list[dict[str, Any]]:
    """Sessions of every platform feed whose tables exist; with ``only``, just those feeds' keys."""
    have = existing_tables(con)
    out: list[dict[str, Any]] = []
    for feed in feed_reader.feeds("session"):
        if not feed_reader.available(feed, have) or (only is not None and feed.name not in only):
            continue
        rows = feed_reader.read(con, feed, keys=None if only is None else only[feed.name])
        out += [feed_session(r, feed) for r in rows]
    return out


def _base(key: str, platform: str, ai_tool: str, source_id: str) -> dict[str, Any]:
    return {"session_key": key, "platform": platform, "ai_tool": ai_tool, "source_id": source_id,
            "is_subagent": False, "heartbeat_based": False}  # fmt: skip


def registered_changed_at(r: dict[str, Any]) -> str:
    """The change marker of a registered session: its latest time (ISO text sorts as time)."""
    return max(str(r.get(c) or "") for c in ("started_at", "last_heartbeat_at", "ended_at"))


def registered_sessions(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for r in rows:
        meta = json.loads(r.get("metadata") or "{}")
        title = (
            meta.get("title") or f"{r['ai_platform']} session on {r.get('machine_id') or 'unknown machine'}"
        )
        out.append({
            **_base(f"registered:{r['session_id']}", r["ai_platform"], r["ai_platform"], r["session_id"]),
            "heartbeat_based": True, "link": "registered", "feed": REGISTERED_FEED,
            "source_key": r["session_id"], "project_hint": r.get("project_key"), "pwd": meta.get("pwd"),
            "machine_id": r.get("machine_id"), "models": [meta["model"]] if meta.get("model") else [],
            "started_at": parse_ts(r["started_at"]), "last_active_at": parse_ts(r["last_heartbeat_at"]),
            "ended_at": parse_ts(r.get("ended_at")), "heartbeats": r.get("heartbeats"),
            "message_count": meta.get("message_count"), "title": title,
            "summary_text": summary_text(title, [meta["summary"]] if meta.get("summary") else []),
        })  # fmt: skip
    return out
