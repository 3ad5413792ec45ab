"""What Neon feeds the unified layer: a ``sessions`` stream (contracts section 7, the Neon
precedent: ``sessions(id uuid, session_name, status, created_at, last_heartbeat, metadata jsonb,
...)``) lands as raw_neon.sessions when NEON_STREAMS lists it; each row is one session.

Neon sessions heartbeat, so they are stale (not ended) when the heartbeats stop; a ``status`` of
terminated, ended, completed or inactive ends them at their last heartbeat.
"""

from __future__ import annotations

from chitty_pipelines.kernel.feeds import Feed

PLATFORM = "neon"
_META = "CAST(src.metadata AS JSON)"
_ENDED = "('terminated', 'ended', 'completed', 'inactive', 'archived')"


def _meta(field: str) -> str:
    return f"json_extract_string({_META}, '$.{field}')"


FEEDS: tuple[Feed, ...] = (
    Feed(
        PLATFORM,
        "session",
        "raw_neon.sessions",
        key="CAST(id AS VARCHAR)",
        changed_at="greatest(created_at, last_heartbeat)",
        fingerprint="coalesce(CAST(last_heartbeat AS VARCHAR), '') || coalesce(status, '')",
        columns={
            "session_key": "'neon:' || CAST(src.id AS VARCHAR)",
            "platform": f"'{PLATFORM}'",
            "ai_tool": f"coalesce({_meta('ai_tool')}, {_meta('platform')}, 'unknown')",
            "source_id": "CAST(src.id AS VARCHAR)",
            "is_subagent": "false",
            "heartbeat_based": "true",
            "link": "'registered'",
            "project_hint": f"coalesce({_meta('project_id')}, {_meta('project')})",
            "pwd": _meta("pwd"),
            "machine_id": _meta("machine_id"),
            "models": f"CASE WHEN {_meta('model')} IS NOT NULL THEN [{_meta('model')}] "
            "ELSE []::VARCHAR[] END",
            "started_at": "src.created_at",
            "last_active_at": "coalesce(src.last_heartbeat, src.created_at)",
            "ended_at": f"CASE WHEN lower(src.status) IN {_ENDED} "
            "THEN coalesce(src.last_heartbeat, src.created_at) END",
            "title": "coalesce(src.session_name, 'session ' || CAST(src.id AS VARCHAR))",
            "prompts": f"CASE WHEN {_meta('summary')} IS NOT NULL THEN [{_meta('summary')}] END",
        },
        asset_dependency=False,  # raw_neon/sessions exists only when NEON_STREAMS lists it
        description="Sessions of the cross-session-sync Neon schema (raw_neon.sessions).",
    ),
)
