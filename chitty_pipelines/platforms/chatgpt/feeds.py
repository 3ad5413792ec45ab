"""What ChatGPT exports feed the unified layer: one session per conversation (active thread)."""

from __future__ import annotations

from chitty_pipelines.kernel.feeds import Feed

PLATFORM = "chatgpt"
PROMPTS_IN_SUMMARY = 5

_SQL = f"""
WITH m AS (
    SELECT conversation_id,
        count(*) FILTER (WHERE role IN ('user', 'assistant') AND NOT coalesce(hidden, false))
            AS message_count,
        count(*) FILTER (WHERE role = 'user' AND NOT coalesce(hidden, false)) AS prompt_count,
        -- a call is an assistant message addressed to a tool (recipient 'browser', 'python',
        -- 'web.run', ...); role 'tool' rows are results, and one call can return several
        count(*) FILTER (WHERE role = 'assistant' AND coalesce(recipient, 'all') <> 'all') AS tool_call_count,
        -- conversation times can be null (old or hand-edited exports): the messages' times stand in
        min(create_time) AS first_message_at, max(create_time) AS last_message_at,
        list(text ORDER BY position) FILTER (
            WHERE role = 'user' AND NOT coalesce(hidden, false) AND coalesce(text, '') <> '') AS prompts
    FROM raw_local.chatgpt_messages WHERE on_active_thread GROUP BY ALL
)
SELECT c.conversation_id AS source_key, c.conversation_id, c.title, nullif(c.gizmo_id, '') AS gizmo_id,
    coalesce(c.create_time, m.first_message_at) AS create_time,
    coalesce(c.update_time, m.last_message_at, c.create_time) AS update_time,
    c.model_slugs, c.default_model_slug,
    coalesce(m.message_count, c.visible_messages, 0) AS message_count,
    coalesce(m.prompt_count, 0) AS prompt_count,
    coalesce(m.tool_call_count, 0) AS tool_call_count, m.prompts[1:{PROMPTS_IN_SUMMARY}] AS prompts
FROM raw_local.chatgpt_conversations c LEFT JOIN m USING (conversation_id)
"""

# ChatGPT's grouping of conversations (session-formats.md 2.2): a project ("g-p-..." ids) or a
# custom GPT ("g-..."). The export names neither, so the record is named by its kind and id.
_GIZMOS_SQL = """
SELECT gizmo_id AS source_key, gizmo_id, count(*) AS n, max(coalesce(update_time, create_time)) AS at
FROM raw_local.chatgpt_conversations WHERE gizmo_id IS NOT NULL AND gizmo_id <> '' GROUP BY ALL
"""

FEEDS: tuple[Feed, ...] = (
    Feed(
        PLATFORM,
        "session",
        "raw_local.chatgpt_conversations",
        key="conversation_id",
        # an export rewrites a conversation with a later update_time whenever it grew
        changed_at="coalesce(update_time, create_time)",
        # moving a conversation into a project (gizmo_id) need not change its update_time
        fingerprint="concat_ws('|', update_time, create_time, title, visible_messages, gizmo_id)",
        query=_SQL,
        requires=("raw_local.chatgpt_messages",),
        columns={
            "session_key": "'chatgpt:' || src.conversation_id",
            "platform": f"'{PLATFORM}'",
            "ai_tool": "'chatgpt'",
            "source_id": "src.conversation_id",
            "is_subagent": "false",
            "heartbeat_based": "false",
            # in a ChatGPT project or with a custom GPT: that gizmo's project (the feed below)
            "link": "CASE WHEN src.gizmo_id IS NULL THEN 'none' ELSE 'cwd' END",
            "project_hint": "src.gizmo_id",
            "models": "CASE WHEN len(coalesce(src.model_slugs, [])) > 0 THEN src.model_slugs "
            "WHEN src.default_model_slug IS NOT NULL THEN [src.default_model_slug] "
            "ELSE []::VARCHAR[] END",
            "started_at": "src.create_time",
            "last_active_at": "coalesce(src.update_time, src.create_time)",
            "message_count": "src.message_count",
            "prompt_count": "src.prompt_count",
            "tool_call_count": "src.tool_call_count",
            "title": "src.title",
            "prompts": "src.prompts",
        },
        description="One session per exported conversation; exports carry no token usage.",
    ),
    Feed(
        PLATFORM,
        "project",
        "raw_local.chatgpt_conversations",
        key="gizmo_id",
        changed_at="coalesce(update_time, create_time)",
        where="gizmo_id IS NOT NULL AND gizmo_id <> ''",
        fingerprint="concat_ws('|', update_time, create_time, gizmo_id)",
        query=_GIZMOS_SQL,
        columns={
            "source_id": "src.gizmo_id",
            "name": "CASE WHEN src.gizmo_id LIKE 'g-p-%' THEN 'ChatGPT project ' ELSE 'ChatGPT GPT ' END "
            "|| src.gizmo_id",
            "last_active_at": "src.at",
            "record_count": "src.n",
        },
        project_rank=60,  # the weakest anchor: an id without a name, path or remote
        project_columns={
            "chatgpt_conversations": ("record_count", "ChatGPT conversations in this project or custom GPT"),
        },
        description="One project record per ChatGPT project or custom GPT (gizmo_id) the exports name.",
    ),
)
