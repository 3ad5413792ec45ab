"""The Claude Code tables in ``raw_local`` and the SQL that derives session aggregates.

Session figures are computed in SQL over every stored line (never accumulated in Python), so a
re-run, an incremental sync or two runs at once always end with the same exact numbers.
"""

from __future__ import annotations

from chitty_pipelines.platforms.claude_code.parser import (
    MESSAGE_FIELDS,
    SUBAGENT_FIELDS,
    TODO_FIELDS,
    TOOL_CALL_FIELDS,
)
from chitty_pipelines.warehouse import TableSpec, cols

SCHEMA = "raw_local"

MESSAGES = TableSpec(
    SCHEMA,
    "claude_messages",
    cols(
        ("source_file", "VARCHAR", "transcript file the line was read from"),
        ("line_no", "BIGINT", "1-based line number in that file"),
        ("session_id", "VARCHAR", "session the line belongs to (file stem, subagents/ folder, or line)"),
        ("uuid", "VARCHAR", "line id; NOT unique: resumed sessions replay lines with the same uuid"),
        ("parent_uuid", "VARCHAR"),
        ("line_session_id", "VARCHAR", "sessionId written on the line itself"),
        ("agent_id", "VARCHAR", "subagent id (agentId, or from the agent-<id>.jsonl file name)"),
        ("file_kind", "VARCHAR", "main | agent_flat (v2.0) | subagent (v2.1)"),
        ("is_sidechain", "BOOLEAN"),
        ("type", "VARCHAR", "entry type; unknown types are kept with their raw JSON"),
        ("subtype", "VARCHAR", "system subtype, progress data.type, attachment type, api_error"),
        ("role", "VARCHAR"),
        ("timestamp", "TIMESTAMPTZ"),
        ("model", "VARCHAR"),
        ("message_id", "VARCHAR", "API message id (msg_...): one response spans several lines"),
        ("request_id", "VARCHAR"),
        ("is_meta", "BOOLEAN"),
        ("is_prompt", "BOOLEAN", "a human prompt (not meta, command echo, tool result, summary)"),
        ("usage_eligible", "BOOLEAN", "top-level assistant line with usage, not <synthetic>/API error"),
        ("input_tokens", "BIGINT", "running usage as written on this line"),
        ("output_tokens", "BIGINT"),
        ("cache_creation_tokens", "BIGINT", "ephemeral 5m + 1h when present, else cache_creation_input"),
        ("cache_read_tokens", "BIGINT"),
        ("total_tokens", "BIGINT"),
        ("tool_use_count", "INTEGER"),
        ("text", "VARCHAR", "excerpt of the text content"),
        ("cwd", "VARCHAR"),
        ("git_branch", "VARCHAR"),
        ("version", "VARCHAR", "CLI version"),
        ("raw", "JSON", "the whole line, for entry types this parser does not know"),
    ),
    primary_key=("source_file", "line_no"),
    description="Every Claude Code transcript line (main, v2.0 flat agent and v2.1 subagent files).",
)

TOOL_CALLS = TableSpec(
    SCHEMA,
    "claude_tool_calls",
    cols(
        ("session_id", "VARCHAR"),
        ("tool_use_id", "VARCHAR"),
        ("message_uuid", "VARCHAR", "assistant line holding the tool_use block"),
        ("agent_id", "VARCHAR"),
        ("is_sidechain", "BOOLEAN"),
        ("name", "VARCHAR", "tool name (MCP tools: mcp__<server>__<tool>)"),
        ("called_at", "TIMESTAMPTZ"),
        ("input_summary", "VARCHAR", "command, file path, pattern, URL or query; else the input JSON, cut"),
        ("file_paths", "VARCHAR[]", "input file_path / notebook_path / path"),
        ("has_result", "BOOLEAN"),
        ("result_is_error", "BOOLEAN"),
        ("result_at", "TIMESTAMPTZ"),
        ("spawned_agent_id", "VARCHAR", "agentId reported by a Task/Agent call's result"),
        ("source_file", "VARCHAR"),
        ("line_no", "BIGINT"),
    ),
    primary_key=("session_id", "tool_use_id"),
    description="Tool calls (tool_use blocks) paired with their tool_result within the session.",
)

TODOS = TableSpec(
    SCHEMA,
    "claude_todos",
    cols(
        ("source_file", "VARCHAR"),
        ("line_no", "BIGINT", "transcript line of the TodoWrite call; 0 for state files"),
        ("block", "INTEGER", "content block index of the TodoWrite call"),
        ("position", "INTEGER", "item position in the list"),
        ("source", "VARCHAR", "transcript (TodoWrite input) | todos (todos/*.json) | tasks (tasks/*/*.json)"),
        ("session_id", "VARCHAR"),
        ("agent_id", "VARCHAR"),
        ("list_id", "VARCHAR", "task list id (tasks/ folder) or session id (todos/ file)"),
        ("tool_use_id", "VARCHAR"),
        ("item_id", "VARCHAR"),
        ("content", "VARCHAR", "todo content or task subject"),
        ("status", "VARCHAR"),
        ("priority", "VARCHAR"),
        ("active_form", "VARCHAR"),
        ("description", "VARCHAR"),
        ("blocked_by", "VARCHAR[]"),
        ("owner", "VARCHAR"),
        ("observed_at", "TIMESTAMPTZ", "TodoWrite line timestamp, or the state file's mtime"),
    ),
    primary_key=("source_file", "line_no", "block", "position"),
    description="Todo lists: every TodoWrite snapshot in transcripts, plus todos/ and tasks/ state files.",
)

SUBAGENTS = TableSpec(
    SCHEMA,
    "claude_subagents",
    cols(
        ("part_id", "VARCHAR", "<session>#agent-<agentId>"),
        ("session_id", "VARCHAR", "parent session"),
        ("agent_id", "VARCHAR"),
        ("layout", "VARCHAR", "v2.0 flat | v2.1 subagents"),
        ("agent_type", "VARCHAR", "from the .meta.json sidecar"),
        ("description", "VARCHAR", "from the .meta.json sidecar"),
        (
            "tool_use_id",
            "VARCHAR",
            "spawning Task call: .meta.json toolUseId, else the Task result's agentId",
        ),
        ("is_compaction", "BOOLEAN", "the compaction agent (agent-acompact-*)"),
        ("source_file", "VARCHAR"),
        ("line_count", "BIGINT"),
        ("first_at", "TIMESTAMPTZ"),
        ("last_at", "TIMESTAMPTZ"),
    ),
    primary_key=("part_id",),
    description="Subagent transcripts (session parts) and the Task call that spawned each.",
)

SESSIONS = TableSpec(
    SCHEMA,
    "claude_sessions",
    cols(
        ("session_id", "VARCHAR"),
        ("project_path", "VARCHAR", "first cwd of the session (folder names are never decoded)"),
        ("cwds", "VARCHAR[]"),
        ("git_branch", "VARCHAR", "last non-empty gitBranch"),
        ("first_at", "TIMESTAMPTZ"),
        ("last_at", "TIMESTAMPTZ"),
        ("cli_versions", "VARCHAR[]"),
        ("models", "VARCHAR[]", "models that answered (no <synthetic>)"),
        ("title", "VARCHAR"),
        ("title_source", "VARCHAR", "custom-title | ai-title | summary | first-prompt"),
        ("prompt_count", "BIGINT", "human prompts"),
        ("message_count", "BIGINT", "user + assistant lines of the main conversation (no sidechains)"),
        ("line_count", "BIGINT", "all lines of all the session's files"),
        ("assistant_responses", "BIGINT", "distinct message.id in the main conversation"),
        ("api_requests", "BIGINT", "responses counted for usage, subagents included"),
        ("tool_call_count", "BIGINT"),
        ("tool_calls_by_name", "JSON", "{tool name: calls}"),
        ("subagent_count", "BIGINT", "subagent files plus v1.0 inline sidechain roots"),
        ("compactions", "BIGINT"),
        ("input_tokens", "BIGINT"),
        ("output_tokens", "BIGINT"),
        ("cache_creation_tokens", "BIGINT"),
        ("cache_read_tokens", "BIGINT"),
        ("total_tokens", "BIGINT"),
        ("flags", "VARCHAR[]", "usage_without_request_id, usage_without_message_id"),
        ("source_files", "BIGINT"),
    ),
    primary_key=("session_id",),
    description="One row per Claude Code session; tokens de-duplicated per session-formats.md §1.8.",
)

TABLES = (SESSIONS, MESSAGES, TOOL_CALLS, TODOS, SUBAGENTS)

for _spec, _fields in ((MESSAGES, MESSAGE_FIELDS), (TOOL_CALLS, TOOL_CALL_FIELDS), (TODOS, TODO_FIELDS)):
    assert tuple(_spec.column_names) == _fields, _spec.name  # parser tuples follow the specs
assert tuple(SUBAGENTS.column_names[: len(SUBAGENT_FIELDS)]) == SUBAGENT_FIELDS

M, T, S, A = MESSAGES.sql_name, TOOL_CALLS.sql_name, SESSIONS.sql_name, SUBAGENTS.sql_name

# §1.8: (1) top-level assistant lines with usage; (2) no <synthetic>/API errors (usage_eligible);
# (3) one copy per uuid, from the earliest session; (5) drop sidechain copies of a message.id that
# has a main-conversation copy (/btw); (4) per (message.id, requestId) the max-total line, ties to
# the last in file order; (8) message.id missing -> uuid, then file:line; (7) subagent files are
# rows of their parent session like any other line.
SESSIONS_SQL = f"""
WITH span AS (
    SELECT session_id, min(timestamp) AS s_first, max(timestamp) AS s_last FROM {M} GROUP BY ALL
),
kept AS (
    SELECT * FROM (
        SELECT m.*, coalesce(m.type, m.role) AS kind, row_number() OVER (
            PARTITION BY m.uuid
            ORDER BY s_first NULLS LAST, s_last NULLS LAST, session_id, source_file, line_no) AS uuid_rank
        FROM {M} m JOIN span USING (session_id)
    ) AS ranked WHERE uuid IS NULL OR uuid_rank = 1
),
usage_lines AS (
    SELECT *, coalesce(message_id, uuid, source_file || ':' || line_no) AS response_key
    FROM kept WHERE usage_eligible
),
main_ids AS (SELECT DISTINCT message_id FROM usage_lines WHERE NOT is_sidechain AND message_id IS NOT NULL),
responses AS (
    SELECT * FROM usage_lines
    WHERE NOT (is_sidechain AND message_id IS NOT NULL AND message_id IN (SELECT message_id FROM main_ids))
    QUALIFY row_number() OVER (
        PARTITION BY response_key, request_id
        ORDER BY total_tokens DESC, source_file DESC, line_no DESC) = 1
),
tokens AS (
    SELECT session_id, count(*) AS api_requests,
        -- sums are HUGEINT; clipped to int64 so one absurd session cannot fail the insert of all
        least(sum(input_tokens), 9223372036854775807)::BIGINT AS input_tokens,
        least(sum(output_tokens), 9223372036854775807)::BIGINT AS output_tokens,
        least(sum(cache_creation_tokens), 9223372036854775807)::BIGINT AS cache_creation_tokens,
        least(sum(cache_read_tokens), 9223372036854775807)::BIGINT AS cache_read_tokens,
        least(sum(total_tokens), 9223372036854775807)::BIGINT AS total_tokens
    FROM responses GROUP BY ALL
),
usage_flags AS (
    SELECT session_id,
        bool_or(request_id IS NULL) AS no_request_id, bool_or(message_id IS NULL) AS no_message_id
    FROM usage_lines GROUP BY ALL
),
all_lines AS (
    SELECT session_id,
        count(*) AS line_count, count(DISTINCT source_file) AS source_files,
        min(timestamp) AS first_at, max(timestamp) AS last_at,
        first(cwd ORDER BY file_kind <> 'main', source_file, line_no) FILTER (WHERE cwd IS NOT NULL)
            AS project_path,
        list_sort(list(DISTINCT cwd) FILTER (WHERE cwd IS NOT NULL)) AS cwds,
        last(git_branch ORDER BY timestamp NULLS FIRST, line_no) FILTER (WHERE git_branch <> '')
            AS git_branch,
        list_sort(list(DISTINCT version) FILTER (WHERE version IS NOT NULL)) AS cli_versions,
        list_sort(list(DISTINCT model) FILTER (WHERE model IS NOT NULL AND model <> '<synthetic>'))
            AS models,
        count(DISTINCT agent_id) FILTER (WHERE agent_id IS NOT NULL) AS agent_files
    FROM {M} GROUP BY ALL
),
kept_lines AS (
    SELECT session_id,
        count(*) FILTER (WHERE is_prompt) AS prompt_count,
        count(*) FILTER (WHERE kind IN ('user', 'assistant') AND NOT is_sidechain) AS message_count,
        count(DISTINCT coalesce(message_id, uuid)) FILTER (
            WHERE kind = 'assistant' AND NOT is_sidechain AND coalesce(model, '') <> '<synthetic>'
            AND coalesce(subtype, '') <> 'api_error'
        ) AS assistant_responses,
        count(*) FILTER (WHERE type = 'system' AND subtype = 'compact_boundary') AS compactions,
        count(*) FILTER (
            WHERE file_kind = 'main' AND agent_id IS NULL AND is_sidechain AND parent_uuid IS NULL
            AND kind = 'user'
        ) AS inline_sidechains,
        last(text ORDER BY source_file, line_no) FILTER (WHERE type = 'custom-title') AS custom_title,
        last(text ORDER BY source_file, line_no) FILTER (WHERE type = 'ai-title') AS ai_title,
        last(text ORDER BY source_file, line_no) FILTER (WHERE type = 'summary') AS summary_title,
        first(text ORDER BY file_kind <> 'main', source_file, line_no) FILTER (WHERE is_prompt)
            AS first_prompt
    FROM kept GROUP BY ALL
),
tools AS (
    SELECT session_id, sum(n) AS tool_call_count,
        to_json(map(list(name ORDER BY name), list(n ORDER BY name)))::VARCHAR AS by_name
    FROM (
        SELECT t.session_id, coalesce(t.name, '?') AS name, count(DISTINCT t.tool_use_id) AS n
        FROM {T} t
        WHERE EXISTS (SELECT 1 FROM kept k WHERE k.source_file = t.source_file AND k.line_no = t.line_no)
        GROUP BY ALL
    ) AS per_tool GROUP BY ALL
)
SELECT a.session_id, a.project_path, a.cwds, a.git_branch, a.first_at, a.last_at, a.cli_versions,
    a.models,
    coalesce(nullif(k.custom_title, ''), nullif(k.ai_title, ''), nullif(k.summary_title, ''), k.first_prompt)
        AS title,
    CASE WHEN nullif(k.custom_title, '') IS NOT NULL THEN 'custom-title'
         WHEN nullif(k.ai_title, '') IS NOT NULL THEN 'ai-title'
         WHEN nullif(k.summary_title, '') IS NOT NULL THEN 'summary'
         WHEN k.first_prompt IS NOT NULL THEN 'first-prompt' END AS title_source,
    coalesce(k.prompt_count, 0), coalesce(k.message_count, 0), a.line_count,
    coalesce(k.assistant_responses, 0), coalesce(t.api_requests, 0), coalesce(tl.tool_call_count, 0),
    coalesce(tl.by_name, '{{}}'),
    a.agent_files + coalesce(k.inline_sidechains, 0), coalesce(k.compactions, 0),
    coalesce(t.input_tokens, 0), coalesce(t.output_tokens, 0), coalesce(t.cache_creation_tokens, 0),
    coalesce(t.cache_read_tokens, 0), coalesce(t.total_tokens, 0),
    list_filter([CASE WHEN f.no_request_id THEN 'usage_without_request_id' END,
                 CASE WHEN f.no_message_id THEN 'usage_without_message_id' END], lambda x: x IS NOT NULL),
    a.source_files
FROM all_lines a
LEFT JOIN kept_lines k USING (session_id)
LEFT JOIN tokens t USING (session_id)
LEFT JOIN usage_flags f USING (session_id)
LEFT JOIN tools tl USING (session_id)
"""

SUBAGENT_STATS_SQL = f"""
UPDATE {A} AS p SET line_count = s.n, first_at = s.first_at, last_at = s.last_at
FROM (SELECT source_file, count(*) AS n, min(timestamp) AS first_at, max(timestamp) AS last_at
      FROM {M} GROUP BY ALL) AS s
WHERE p.source_file = s.source_file
"""

# Applied per batch with the batch's tool results registered as __results (a result can land in
# a later batch than its call, so it updates the stored call rather than the batch).
RESULTS_SQL = f"""
UPDATE {T} AS t SET has_result = true, result_is_error = r.is_error, result_at = r.result_at,
    spawned_agent_id = r.agent_id
FROM (SELECT * FROM __results QUALIFY row_number() OVER (PARTITION BY session_id, tool_use_id) = 1) AS r
WHERE t.session_id = r.session_id AND t.tool_use_id = r.tool_use_id
"""
SPAWN_SQL = f"""
UPDATE {A} AS p SET tool_use_id = t.tool_use_id
FROM (SELECT * FROM {T} WHERE spawned_agent_id IS NOT NULL) AS t
WHERE p.tool_use_id IS NULL AND p.session_id = t.session_id AND p.agent_id = t.spawned_agent_id
"""

# Recomputing only the sessions that changed (``__changed``, a temp table of session ids) stays
# exact under §1.8 because every cross-session rule keys on uuid or message.id: a session's
# figures depend only on sessions sharing one of its uuids or message ids. So the sessions to
# rewrite are ring 1 (the changed ones plus every session sharing a uuid / message.id with
# them), and the rows to compute them from are those of ring 2 (sessions sharing one with ring
# 1: the rivals of every ring-1 row for "earliest session keeps the uuid" and "max line per
# response"). Sessions beyond ring 1 keep their rows: nothing they depend on changed.
_RING_SQL = f"""
CREATE OR REPLACE TEMP TABLE {{dst}} AS
WITH src AS (SELECT * FROM {M} WHERE session_id IN (SELECT session_id FROM {{src}}))
SELECT session_id FROM {{src}}
UNION
SELECT DISTINCT m.session_id FROM {M} m
WHERE m.uuid IN (SELECT uuid FROM src WHERE uuid IS NOT NULL)
   OR m.message_id IN (SELECT message_id FROM src WHERE message_id IS NOT NULL)
"""
SCOPE_SQL = (
    _RING_SQL.format(src="__changed", dst="__ring1"),
    _RING_SQL.format(src="__ring1", dst="__ring2"),
    f"CREATE OR REPLACE TEMP TABLE __scope AS SELECT * FROM {M} "
    "WHERE session_id IN (SELECT session_id FROM __ring2)",
    f"DELETE FROM {S} WHERE session_id IN (SELECT session_id FROM __ring1)",
)
assert SESSIONS_SQL.count(f"FROM {M}") == 3 and SESSIONS_SQL.count(M) == 3  # every read is replaced
SCOPED_SESSIONS_SQL = (
    f"INSERT INTO {S} SELECT * FROM ({SESSIONS_SQL.replace(f'FROM {M}', 'FROM __scope')}) AS s "
    "WHERE s.session_id IN (SELECT session_id FROM __ring1)"
)
# Subagent figures and spawn links only move for subagents of the changed sessions.
SCOPED_SUBAGENT_STATS_SQL = SUBAGENT_STATS_SQL.replace(
    "WHERE p.source_file = s.source_file",
    "WHERE p.source_file = s.source_file AND p.session_id IN (SELECT session_id FROM __changed)",
)
SCOPED_SPAWN_SQL = SPAWN_SQL.replace(
    "WHERE p.tool_use_id IS NULL",
    "WHERE p.session_id IN (SELECT session_id FROM __changed) AND p.tool_use_id IS NULL",
)
assert SCOPED_SUBAGENT_STATS_SQL != SUBAGENT_STATS_SQL and SCOPED_SPAWN_SQL != SPAWN_SQL
