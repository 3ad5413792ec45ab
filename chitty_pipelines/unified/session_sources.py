"""Session source rows from the platform tables (any subset present) and the operational store,
and the status rule.

Status (as of a clock the asset takes from its config, so transitions are testable):

* registered sessions (``chitty-sync sessionsync``, any AI tool) promise heartbeats:
  ``ended`` once ended explicitly; ``active`` while the last heartbeat is at most TTL old;
  ``stale`` when heartbeats stopped (older than TTL, never ended). A later heartbeat makes a
  stale session active again.
* file-based sessions (Claude Code transcripts, ChatGPT and Gemini exports) have no heartbeat and
  no end marker: ``active`` while their last message is at most TTL old, else ``ended`` at their
  last message. Silence is how these sessions end, so they are never ``stale``.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import duckdb

from chitty_pipelines.unified.project_sources import _rows, existing_tables
from chitty_pipelines.warehouse.opstore import parse_ts

SUMMARY_CHARS = 2000
PROMPTS_IN_SUMMARY = 5


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


CLAUDE_SQL = f"""
WITH p AS (
    SELECT session_id, list(text ORDER BY source_file, line_no) AS prompts FROM (
        SELECT session_id, source_file, line_no, text FROM raw_local.claude_messages
        WHERE is_prompt AND agent_id IS NULL AND coalesce(text, '') <> ''
        QUALIFY row_number() OVER (PARTITION BY session_id ORDER BY source_file, line_no)
            <= {PROMPTS_IN_SUMMARY}
    ) GROUP BY ALL
),
-- sessions without a typed prompt (slash commands only): their first texts, command tags removed
f AS (
    SELECT session_id,
        list(regexp_replace(text, '</?command-[a-z-]+>', ' ', 'g') ORDER BY source_file, line_no) AS texts
    FROM (
        SELECT session_id, source_file, line_no, text FROM raw_local.claude_messages
        WHERE agent_id IS NULL AND role IN ('user', 'assistant') AND NOT coalesce(is_meta, false)
            AND coalesce(trim(text), '') <> ''
        QUALIFY row_number() OVER (PARTITION BY session_id ORDER BY source_file, line_no) <= 3
    ) GROUP BY ALL
)
SELECT s.*, coalesce(p.prompts, f.texts) AS prompts
FROM raw_local.claude_sessions s LEFT JOIN p USING (session_id) LEFT JOIN f USING (session_id)
"""

SUBAGENT_SQL = f"""
WITH m AS (
    SELECT source_file,
        count(*) FILTER (WHERE coalesce(type, role) IN ('user', 'assistant')) AS message_count,
        count(*) FILTER (WHERE is_prompt) AS prompt_count,
        coalesce(sum(tool_use_count), 0) AS tool_call_count,
        list_sort(list(DISTINCT model) FILTER (WHERE model IS NOT NULL AND model <> '<synthetic>')) AS models,
        list(text ORDER BY line_no) FILTER (WHERE role = 'user' AND coalesce(text, '') <> '') AS prompts
    FROM raw_local.claude_messages WHERE agent_id IS NOT NULL GROUP BY ALL
),
t AS (
    SELECT source_file, sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens,
        sum(cache_creation_tokens) AS cache_creation_tokens, sum(cache_read_tokens) AS cache_read_tokens,
        sum(total_tokens) AS total_tokens
    FROM (
        SELECT * FROM raw_local.claude_messages WHERE usage_eligible AND agent_id IS NOT NULL
        QUALIFY row_number() OVER (
            PARTITION BY source_file, coalesce(message_id, uuid, CAST(line_no AS VARCHAR)), request_id
            ORDER BY total_tokens DESC, line_no DESC) = 1
    ) GROUP BY ALL
)
SELECT a.part_id, a.session_id, a.agent_id, a.agent_type, a.description, a.first_at, a.last_at,
    coalesce(m.message_count, 0) AS message_count, coalesce(m.prompt_count, 0) AS prompt_count,
    coalesce(m.tool_call_count, 0) AS tool_call_count, m.models, m.prompts[1:{PROMPTS_IN_SUMMARY}] AS prompts,
    coalesce(t.input_tokens, 0) AS input_tokens, coalesce(t.output_tokens, 0) AS output_tokens,
    coalesce(t.cache_creation_tokens, 0) AS cache_creation_tokens,
    coalesce(t.cache_read_tokens, 0) AS cache_read_tokens, coalesce(t.total_tokens, 0) AS total_tokens
FROM raw_local.claude_subagents a LEFT JOIN m USING (source_file) LEFT JOIN t USING (source_file)
"""

CHATGPT_SQL = f"""
WITH m AS (
    SELECT conversation_id,
        count(*) FILTER (WHERE role IN ('user', 'assistant') AND NOT coalesce(hidden, false))
            AS message_count,
        count(*) FILTER (WHERE role = 'user' AND NOT coalesce(hidden, false)) AS prompt_count,
        count(*) FILTER (WHERE role = 'tool') AS tool_call_count,
        list(text ORDER BY position) FILTER (
            WHERE role = 'user' AND NOT coalesce(hidden, false) AND coalesce(text, '') <> '') AS prompts
    FROM raw_local.chatgpt_messages WHERE on_active_thread GROUP BY ALL
)
SELECT c.conversation_id, c.title, c.create_time, c.update_time, c.model_slugs, c.default_model_slug,
    coalesce(m.message_count, c.visible_messages, 0) AS message_count,
    coalesce(m.prompt_count, 0) AS prompt_count,
    coalesce(m.tool_call_count, 0) AS tool_call_count, m.prompts[1:{PROMPTS_IN_SUMMARY}] AS prompts
FROM raw_local.chatgpt_conversations c LEFT JOIN m USING (conversation_id)
"""

GEMINI_SQL = f"""
WITH p AS (
    SELECT session_id, count(*) FILTER (WHERE coalesce(response_text, '') <> '') AS responses,
        list(prompt_text ORDER BY prompt_time) AS prompts
    FROM raw_local.gemini_prompts GROUP BY ALL
)
SELECT s.*, coalesce(p.responses, 0) AS responses, p.prompts[1:{PROMPTS_IN_SUMMARY}] AS prompts
FROM raw_local.gemini_sessions s LEFT JOIN p USING (session_id)
"""


def _base(key: str, platform: str, ai_tool: str, source_id: str) -> dict[str, Any]:
    return {"session_key": key, "platform": platform, "ai_tool": ai_tool, "source_id": source_id,
            "is_subagent": False, "heartbeat_based": False}  # fmt: skip


def _tokens(r: dict[str, Any]) -> dict[str, Any]:
    names = ("input_tokens", "output_tokens", "cache_creation_tokens", "cache_read_tokens", "total_tokens")
    return {n: r.get(n) for n in names}


def file_sessions(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    have = existing_tables(con)
    out: list[dict[str, Any]] = []
    claude = {"raw_local.claude_sessions", "raw_local.claude_messages"} <= have
    if claude:
        for r in _rows(con, CLAUDE_SQL):
            out.append({
                **_base(f"claude:{r['session_id']}", "claude_code", "claude", r["session_id"]),
                "project_hint": r["project_path"], "models": r["models"], "started_at": r["first_at"],
                "last_active_at": r["last_at"], "message_count": r["message_count"],
                "prompt_count": r["prompt_count"], "tool_call_count": r["tool_call_count"], **_tokens(r),
                "title": r["title"], "summary_text": summary_text(r["title"], r["prompts"]),
            })  # fmt: skip
    if claude and "raw_local.claude_subagents" in have:
        for r in _rows(con, SUBAGENT_SQL):
            title = (
                " - ".join(x for x in (r["agent_type"], r["description"]) if x) or f"subagent {r['agent_id']}"
            )
            out.append({
                **_base(f"claude:{r['part_id']}", "claude_code", "claude", r["part_id"]),
                "is_subagent": True, "parent_session_key": f"claude:{r['session_id']}",
                "models": r["models"], "started_at": r["first_at"], "last_active_at": r["last_at"],
                "message_count": r["message_count"], "prompt_count": r["prompt_count"],
                "tool_call_count": r["tool_call_count"], **_tokens(r), "title": title,
                "summary_text": summary_text(title, r["prompts"]),
            })  # fmt: skip
    if {"raw_local.chatgpt_conversations", "raw_local.chatgpt_messages"} <= have:
        for r in _rows(con, CHATGPT_SQL):
            models = r["model_slugs"] or ([r["default_model_slug"]] if r["default_model_slug"] else [])
            out.append({
                **_base(f"chatgpt:{r['conversation_id']}", "chatgpt", "chatgpt", r["conversation_id"]),
                "models": models, "started_at": r["create_time"],
                "last_active_at": r["update_time"] or r["create_time"], "message_count": r["message_count"],
                "prompt_count": r["prompt_count"], "tool_call_count": r["tool_call_count"],
                "title": r["title"], "summary_text": summary_text(r["title"], r["prompts"]),
            })  # fmt: skip
    if {"raw_local.gemini_sessions", "raw_local.gemini_prompts"} <= have:
        for r in _rows(con, GEMINI_SQL):
            title = (r["first_prompt"] or "")[:120] or None
            out.append({
                **_base(f"gemini:{r['session_id']}", "gemini", "gemini", r["session_id"]),
                "models": list(r["gem_names"] or []), "started_at": r["started_at"],
                "last_active_at": r["ended_at"] or r["started_at"],
                "message_count": int(r["prompt_count"] or 0) + int(r["responses"]),
                "prompt_count": r["prompt_count"], "tool_call_count": 0, "title": title,
                "summary_text": summary_text(None, r["prompts"]),
            })  # fmt: skip
    return out


def registered_sessions(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for r in rows:
        meta = json.loads(r.get("metadata") or "{}")
        title = (
            meta.get("title") or f"{r['ai_platform']} session on {r.get('machine_id') or 'unknown machine'}"
        )
        out.append({
            **_base(f"registered:{r['session_id']}", r["ai_platform"], r["ai_platform"], r["session_id"]),
            "heartbeat_based": True, "project_hint": r.get("project_key"), "pwd": meta.get("pwd"),
            "machine_id": r.get("machine_id"), "models": [meta["model"]] if meta.get("model") else [],
            "started_at": parse_ts(r["started_at"]), "last_active_at": parse_ts(r["last_heartbeat_at"]),
            "ended_at": parse_ts(r.get("ended_at")), "heartbeats": r.get("heartbeats"),
            "message_count": meta.get("message_count"), "title": title,
            "summary_text": summary_text(title, [meta["summary"]] if meta.get("summary") else []),
        })  # fmt: skip
    return out
