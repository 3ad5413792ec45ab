"""What Gemini (Google Takeout) feeds the unified layer: one session per activity session."""

from __future__ import annotations

from chitty_pipelines.kernel.feeds import Feed

PLATFORM = "gemini"
PROMPTS_IN_SUMMARY = 5

_SQL = f"""
WITH p AS (
    SELECT session_id, count(*) FILTER (WHERE coalesce(response_text, '') <> '') AS responses,
        list(prompt_text ORDER BY prompt_time) AS prompts
    FROM raw_local.gemini_prompts GROUP BY ALL
)
SELECT s.*, s.session_id AS source_key, coalesce(p.responses, 0) AS responses,
    p.prompts[1:{PROMPTS_IN_SUMMARY}] AS prompts
FROM raw_local.gemini_sessions s LEFT JOIN p USING (session_id)
"""

FEEDS: tuple[Feed, ...] = (
    Feed(
        PLATFORM,
        "session",
        "raw_local.gemini_sessions",
        key="session_id",
        changed_at="coalesce(ended_at, started_at)",
        fingerprint="concat_ws('|', started_at, ended_at, prompt_count, first_prompt)",
        query=_SQL,
        requires=("raw_local.gemini_prompts",),
        columns={
            "session_key": "'gemini:' || src.session_id",
            "platform": f"'{PLATFORM}'",
            "ai_tool": "'gemini'",
            "source_id": "src.session_id",
            "is_subagent": "false",
            "heartbeat_based": "false",
            "link": "'none'",
            "models": "coalesce(src.gem_names, []::VARCHAR[])",
            "started_at": "src.started_at",
            "last_active_at": "coalesce(src.ended_at, src.started_at)",
            "message_count": "coalesce(src.prompt_count, 0) + src.responses",
            "prompt_count": "src.prompt_count",
            "tool_call_count": "0",
            "title": "nullif(left(coalesce(src.first_prompt, ''), 120), '')",
            # the title is not part of the summary: Takeout titles are the first prompt again
            "summary_title": "NULL",
            "prompts": "src.prompts",
        },
        description="One session per Takeout activity session (prompts grouped by time).",
    ),
)
