"""The ``unified`` tables of projects and sessions (topics live with the topics assets).

The projects table's per-source columns (``on_<kind>`` flags, counts) come from the project feeds
(kernel/feeds.py ``project_kind``, ``project_columns``): a platform that starts feeding projects
adds its own columns, unified names none.
"""

from __future__ import annotations

import dagster as dg

from chitty_pipelines.platforms import registry
from chitty_pipelines.warehouse import TableSpec, cols

SCHEMA = "unified"
REGISTERED = "registered"  # projects registered through projectsync / the API (not a platform)
_PROJECT_FEEDS = sorted(registry.feeds("project"), key=lambda f: f.project_rank)
# Source kinds, strongest anchor first: the ``platforms`` list and the ``on_<kind>`` flags.
PLATFORM_FLAGS: tuple[str, ...] = (REGISTERED, *dict.fromkeys(f.project_kind for f in _PROJECT_FEEDS))
# project column -> (kind, how, description), in the order of the feeds' ranks
PROJECT_COLUMNS: dict[str, tuple[str, str, str]] = {
    col: (f.project_kind, how, desc) for f in _PROJECT_FEEDS for col, (how, desc) in f.project_columns.items()
}
_TYPES = {"records": "BIGINT", "record_count": "BIGINT", "full_name": "VARCHAR"}


def _project_columns(text: bool) -> tuple[tuple[str, str, str], ...]:
    return tuple(
        (col, _TYPES[how], desc) for col, (_kind, how, desc) in PROJECT_COLUMNS.items()
        if (_TYPES[how] == "VARCHAR") == text
    )  # fmt: skip


PROJECTS = TableSpec(
    SCHEMA,
    "projects",
    cols(
        ("project_key", "VARCHAR", "canonical key: the registered key, else the slug of the anchor's name"),
        ("name", "VARCHAR"),
        ("chitty_id", "VARCHAR", "minted ChittyID, or a local-project-<hash> placeholder"),
        ("id_source", "VARCHAR", "service | local"),
        ("platforms", "VARCHAR[]", "sources the project appears in"),
        *((f"on_{p}", "BOOLEAN") for p in PLATFORM_FLAGS),
        *_project_columns(text=False),
        ("alias_count", "BIGINT"),
        ("git_remote", "VARCHAR", "normalised: host/owner/name"),
        *_project_columns(text=True),
        ("paths", "VARCHAR[]", "registered path, working directories, state project paths"),
        ("registered_path", "VARCHAR"),
        ("last_active_at", "TIMESTAMPTZ", "latest activity over every alias"),
        ("built_at", "TIMESTAMPTZ"),
    ),
    primary_key=("project_key",),
    description="One row per real project across platforms (entity resolution over project_aliases).",
)

PROJECT_ALIASES = TableSpec(
    SCHEMA,
    "project_aliases",
    cols(
        ("alias_id", "VARCHAR", "<platform>:<source table>:<source id>"),
        ("platform", "VARCHAR", "the source kind: " + ", ".join(PLATFORM_FLAGS)),
        ("source_table", "VARCHAR"),
        ("source_id", "VARCHAR"),
        ("source_name", "VARCHAR"),
        ("normalized_name", "VARCHAR"),
        ("path", "VARCHAR"),
        ("git_remote", "VARCHAR", "normalised"),
        (
            "rule",
            "VARCHAR",
            "registered, git_remote, path, name, path_within, name_stripped, new, ignored_generic, removed",
        ),
        ("matched_on", "VARCHAR", "the value the rule matched, in words"),
        ("project_key", "VARCHAR", "null only for rules ignored_generic and removed"),
        ("record_count", "BIGINT", "sessions for a working directory, else 1"),
        ("last_active_at", "TIMESTAMPTZ"),
    ),
    primary_key=("alias_id",),
    description="Every project source record, the rule that assigned it and the project it joined.",
)

SESSIONS = TableSpec(
    SCHEMA,
    "sessions",
    cols(
        (
            "session_key",
            "VARCHAR",
            "<prefix>:<id> as the session feed maps it, or registered:<id>",
        ),
        ("chitty_id", "VARCHAR"),
        ("id_source", "VARCHAR", "service | local"),
        ("platform", "VARCHAR", "the feed's platform, or the registered AI platform"),
        ("ai_tool", "VARCHAR", "the AI tool as its source names it"),
        ("source_id", "VARCHAR", "the session id on its platform"),
        ("parent_session_key", "VARCHAR", "subagents: their parent session"),
        ("is_subagent", "BOOLEAN"),
        ("project_key", "VARCHAR", "null when no rule links the session to a project"),
        ("project_rule", "VARCHAR", "cwd, registered, registered_path, none"),
        ("project_hint", "VARCHAR", "what the source said (cwd, registered project id)"),
        ("machine_id", "VARCHAR"),
        ("models", "VARCHAR[]"),
        ("started_at", "TIMESTAMPTZ"),
        ("ended_at", "TIMESTAMPTZ", "explicit end, or the last activity of an ended file session"),
        ("last_active_at", "TIMESTAMPTZ", "last heartbeat or last message"),
        ("message_count", "BIGINT"),
        ("prompt_count", "BIGINT"),
        ("tool_call_count", "BIGINT"),
        ("input_tokens", "BIGINT", "null where the source has no usage (ChatGPT/Gemini exports)"),
        ("output_tokens", "BIGINT"),
        ("cache_creation_tokens", "BIGINT"),
        ("cache_read_tokens", "BIGINT"),
        ("total_tokens", "BIGINT", "Claude parents include their subagents' usage"),
        ("heartbeats", "BIGINT", "registered sessions only"),
        ("status", "VARCHAR", "active | ended | stale, as of status_as_of"),
        ("status_as_of", "TIMESTAMPTZ"),
        ("title", "VARCHAR"),
        ("summary_text", "VARCHAR", "title plus the first real prompts, ~2000 characters (topic input)"),
        ("built_at", "TIMESTAMPTZ"),
    ),
    primary_key=("session_key",),
    description="One row per AI session across tools, with project, usage and active/ended/stale status.",
)

PROJECTS_KEY = dg.AssetKey(["unified", "projects"])
ALIASES_KEY = dg.AssetKey(["unified", "project_aliases"])
SESSIONS_KEY = dg.AssetKey(["unified", "sessions"])
