"""What Claude Code feeds the unified layer: sessions (main and subagent transcripts) and one
project source record per working directory. unified/ reads these declarations; the SQL that
knows raw_local.claude_* lives here, next to the tables it reads."""

from __future__ import annotations

from chitty_pipelines.kernel.feeds import Feed

PLATFORM = "claude_code"
PROMPTS_IN_SUMMARY = 5  # the first real prompts of a session go into its summary (topic input)

_SESSIONS_SQL = f"""
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
SELECT s.*, s.session_id AS source_key, coalesce(p.prompts, f.texts) AS prompts
FROM raw_local.claude_sessions s LEFT JOIN p USING (session_id) LEFT JOIN f USING (session_id)
"""

_SUBAGENTS_SQL = f"""
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
SELECT a.part_id AS source_key, a.part_id, a.session_id, a.agent_id, a.agent_type, a.description,
    a.first_at, a.last_at,
    coalesce(m.message_count, 0) AS message_count, coalesce(m.prompt_count, 0) AS prompt_count,
    coalesce(m.tool_call_count, 0) AS tool_call_count, m.models, m.prompts[1:{PROMPTS_IN_SUMMARY}] AS prompts,
    coalesce(t.input_tokens, 0) AS input_tokens, coalesce(t.output_tokens, 0) AS output_tokens,
    coalesce(t.cache_creation_tokens, 0) AS cache_creation_tokens,
    coalesce(t.cache_read_tokens, 0) AS cache_read_tokens, coalesce(t.total_tokens, 0) AS total_tokens
FROM raw_local.claude_subagents a LEFT JOIN m USING (source_file) LEFT JOIN t USING (source_file)
"""

_TOKENS = {
    c: f"src.{c}"
    for c in ("input_tokens", "output_tokens", "cache_creation_tokens", "cache_read_tokens", "total_tokens")
}

FEEDS: tuple[Feed, ...] = (
    Feed(
        PLATFORM,
        "session",
        "raw_local.claude_sessions",
        key="session_id",
        changed_at="last_at",
        # line_count grows with every line appended (a title or summary line moves no timestamp)
        fingerprint="concat_ws('|', last_at, line_count, title, project_path)",
        query=_SESSIONS_SQL,
        requires=("raw_local.claude_messages",),
        columns={
            "session_key": "'claude:' || src.session_id",
            "platform": f"'{PLATFORM}'",
            "ai_tool": "'claude'",
            "source_id": "src.session_id",
            "is_subagent": "false",
            "heartbeat_based": "false",
            "link": "'cwd'",
            "project_hint": "src.project_path",
            "models": "src.models",
            "started_at": "src.first_at",
            "last_active_at": "src.last_at",
            "message_count": "src.message_count",
            "prompt_count": "src.prompt_count",
            "tool_call_count": "src.tool_call_count",
            **_TOKENS,
            "title": "src.title",
            "prompts": "src.prompts",
        },
        description="One session per main transcript; summary from the first typed prompts.",
    ),
    Feed(
        PLATFORM,
        "session",
        "raw_local.claude_subagents",
        key="part_id",
        changed_at="last_at",
        fingerprint="concat_ws('|', last_at, line_count, description)",
        query=_SUBAGENTS_SQL,
        requires=("raw_local.claude_sessions", "raw_local.claude_messages"),
        columns={
            "session_key": "'claude:' || src.part_id",
            "platform": f"'{PLATFORM}'",
            "ai_tool": "'claude'",
            "source_id": "src.part_id",
            "is_subagent": "true",
            "heartbeat_based": "false",
            "link": "'none'",
            "parent_session_key": "'claude:' || src.session_id",
            "models": "src.models",
            "started_at": "src.first_at",
            "last_active_at": "src.last_at",
            "message_count": "src.message_count",
            "prompt_count": "src.prompt_count",
            "tool_call_count": "src.tool_call_count",
            **_TOKENS,
            "title": "coalesce(nullif(array_to_string(list_filter([src.agent_type, src.description], "
            "lambda x: coalesce(x, '') <> ''), ' - '), ''), 'subagent ' || src.agent_id)",
            "prompts": "src.prompts",
        },
        description="One session per subagent transcript; it follows its parent's project.",
    ),
    Feed(
        PLATFORM,
        "project",
        "raw_local.claude_sessions",
        key="project_path",
        changed_at="last_at",
        query="SELECT project_path AS source_key, project_path, count(*) AS n, max(last_at) AS at "
        "FROM raw_local.claude_sessions WHERE project_path IS NOT NULL AND project_path <> '' "
        "GROUP BY ALL",
        columns={
            "source_id": "src.project_path",
            "name": "regexp_extract(rtrim(src.project_path, '/'), '[^/]*$')",
            "path": "src.project_path",
            "last_active_at": "src.at",
            "record_count": "src.n",
        },
        working_directories=True,
        project_rank=3,
        code=True,
        project_columns={
            "claude_sessions": ("record_count", "Claude Code sessions whose working directory belongs here"),
            "claude_paths": ("records", "distinct Claude Code working directories"),
        },
        description="One project record per working directory, counting its sessions.",
    ),
    # Every TodoWrite call in a transcript, every todos/ state file and tasks/ file: one row per
    # item of each list, keyed by the list (a file or transcript line), for unified/todos.
    Feed(
        PLATFORM,
        "todo",
        "raw_local.claude_todos",
        key="source_file || ':' || line_no || ':' || block",
        changed_at="observed_at",
        fingerprint="hash(content, status, active_form, priority, observed_at, session_id, agent_id)",
        columns={
            "todo_key": "src.source_file || ':' || src.line_no || ':' || src.block || ':' || src.position",
            "session_id": "src.session_id",
            "session_key": "CASE WHEN src.agent_id IS NOT NULL AND src.agent_id <> src.session_id "
            "THEN 'claude:' || src.session_id || '#agent-' || src.agent_id "
            "ELSE 'claude:' || src.session_id END",
            "parent_session_key": "'claude:' || src.session_id",
            "ai_tool": "'claude'",
            "list_id": "src.source_file || ':' || src.line_no || ':' || src.block",
            "position": "src.position",
            "source": "src.source",
            "content": "src.content",
            "status": "src.status",
            "active_form": "src.active_form",
            "priority": "src.priority",
            "platform": f"'{PLATFORM}'",
            "updated_at": "src.observed_at",
        },
        description="TodoWrite lists of transcripts, todos/ state files and tasks/ files.",
    ),
)
