"""Row layouts of the Claude Code tables, and the row builders shared by transcripts and state
files. Rows are tuples in the order of the ``*_FIELDS`` declarations (the table specs in
assets/platforms/local_claude_tables.py assert they match)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

MESSAGE_FIELDS = (
    "source_file",
    "line_no",
    "session_id",
    "uuid",
    "parent_uuid",
    "line_session_id",
    "agent_id",
    "file_kind",
    "is_sidechain",
    "type",
    "subtype",
    "role",
    "timestamp",
    "model",
    "message_id",
    "request_id",
    "is_meta",
    "is_prompt",
    "usage_eligible",
    "input_tokens",
    "output_tokens",
    "cache_creation_tokens",
    "cache_read_tokens",
    "total_tokens",
    "tool_use_count",
    "text",
    "cwd",
    "git_branch",
    "version",
    "raw",
)
TOOL_CALL_FIELDS = (
    "session_id",
    "tool_use_id",
    "message_uuid",
    "agent_id",
    "is_sidechain",
    "name",
    "called_at",
    "input_summary",
    "file_paths",
    "has_result",
    "result_is_error",
    "result_at",
    "spawned_agent_id",
    "source_file",
    "line_no",
)
TOOL_RESULT_FIELDS = ("session_id", "tool_use_id", "is_error", "result_at", "agent_id")
TODO_FIELDS = (
    "source_file",
    "line_no",
    "block",
    "position",
    "source",
    "session_id",
    "agent_id",
    "list_id",
    "tool_use_id",
    "item_id",
    "content",
    "status",
    "priority",
    "active_form",
    "description",
    "blocked_by",
    "owner",
    "observed_at",
)
SUBAGENT_FIELDS = (
    "part_id",
    "session_id",
    "agent_id",
    "layout",
    "agent_type",
    "description",
    "tool_use_id",
    "is_compaction",
    "source_file",
)


@dataclass
class FileContext:
    """What the path tells about a file's lines (resources/local_sessions.SessionFile)."""

    source_file: str
    kind: str  # main | agent_flat | subagent
    session_hint: str
    agent_hint: str | None = None  # from the file name for agent files
    session_id: str | None = None  # v2.0 flat files: learnt from the lines' sessionId

    @classmethod
    def for_file(cls, source_file: str, kind: str, session_hint: str, known_session: str | None = None):
        agent = None
        if kind in ("agent_flat", "subagent"):
            stem = source_file.rsplit("/", 1)[-1].removesuffix(".jsonl")
            agent = stem.removeprefix("agent-")
        return cls(source_file, kind, session_hint, agent, known_session)

    def session_for(self, line_session: Any) -> str:
        # v2.0 flat agent files belong to the session named in their lines (§1.10); everything
        # else belongs to the session its path names (main file stem, or <session>/subagents/).
        if self.kind == "agent_flat":
            if isinstance(line_session, str) and line_session:
                self.session_id = self.session_id or line_session
                return line_session
            return self.session_id or self.session_hint
        return self.session_hint


def todo_rows(
    items: list,
    source_file: str,
    line_no: int,
    block: int,
    source: str,
    session: str | None,
    agent: str | None,
    list_id: str | None,
    tool_use_id: str | None,
    observed_at: str | None,  # ISO-8601 with offset
) -> list[tuple]:
    """One row per todo item; items that are not objects (seen in the wild) are skipped."""
    rows = []
    for position, item in enumerate(items):
        if not isinstance(item, dict):
            continue

        def s(key: str, item: dict = item) -> str | None:
            value = item.get(key)
            return str(value) if value is not None and not isinstance(value, dict | list) else None

        blocked = item.get("blockedBy")
        rows.append(
            (
                source_file,
                line_no,
                block,
                position,
                source,
                session,
                agent,
                list_id,
                tool_use_id,
                s("id"),
                s("content") or s("subject"),
                s("status"),
                s("priority"),
                s("activeForm"),
                s("description"),
                [str(b) for b in blocked] if isinstance(blocked, list) else None,
                s("owner"),
                observed_at,
            )
        )
    return rows


def subagent_row(ctx: FileContext, session: str, meta: dict | None) -> tuple:
    """The session part a subagent file adds: ``<session>#agent-<id>`` (claude-code-log's naming)."""
    meta = meta or {}

    def s(key: str) -> str | None:
        value = meta.get(key)
        return value if isinstance(value, str) else None

    agent = ctx.agent_hint or ""
    return (
        f"{session}#agent-{agent}",
        session,
        agent,
        "v2.0 flat" if ctx.kind == "agent_flat" else "v2.1 subagents",
        s("agentType"),
        s("description"),
        s("toolUseId"),
        agent.startswith("acompact"),
        ctx.source_file,
    )
