"""What Cloudflare feeds the unified layer, from Workers KV (contracts section 7):

* ``sessions:<projectId>``: a JSON array of ``{sessionId, machineId, platform, timestamp, active,
  lastActivity}``; every element is one session (heartbeat-based: it is stale once silent, ended
  when ``active`` is false). ``projectId`` (not ``default``) is the project hint.
* ``sync:todos:<projectId>``: ``{projectId, todos[], lastSync, sessions[], totalUpdates}``; every
  item ``{content, status, activeForm, addedBy, addedAt, updatedBy, updatedAt}`` is one todo.
  The unified todos asset (built on another branch) consumes this feed: ``todo_key`` is
  ``kv:<projectId>:<md5 of content>`` (content is the merge key of the original), ``session_id``
  the session that last touched it.

A KV row holds many sessions or todos, so the feed's key is the KV row (namespace/key): when a
value changes (its synced_at moves), all of its elements are re-derived.
"""

from __future__ import annotations

from chitty_pipelines.kernel.feeds import Feed

PLATFORM = "cloudflare"
_KEY = "namespace_id || '/' || key"


def _ts(value: str) -> str:
    """A JSON time that is epoch milliseconds (Date.now()) or an ISO string."""
    return (
        f"CASE WHEN json_type({value}) IN ('BIGINT', 'UBIGINT', 'DOUBLE') "
        f"THEN make_timestamptz(CAST(CAST({value} AS DOUBLE) * 1000 AS BIGINT)) "
        f"ELSE TRY_CAST(json_extract_string({value}, '$') AS TIMESTAMPTZ) END"
    )


def _elements(prefix: str, path: str) -> str:
    """One row per element of the JSON array at ``path`` of every utf-8 value under ``prefix``."""
    return f"""
SELECT {_KEY} AS source_key, e.key AS kv_key, substr(e.key, {len(prefix) + 1}) AS project_id,
    e.synced_at, e.doc, unnest(json_extract(e.doc, '{path}[*]')) AS el
FROM (SELECT *, TRY_CAST(value AS JSON) AS doc FROM raw_cloudflare.kv_entries
      WHERE key LIKE '{prefix}%' AND value_encoding = 'utf8') e
WHERE json_valid(CAST(e.doc AS VARCHAR))
"""


def _el(field: str) -> str:
    return f"json_extract_string(src.el, '$.{field}')"


_STARTED = _ts("json_extract(src.el, '$.timestamp')")
_LAST = "coalesce(" + _ts("json_extract(src.el, '$.lastActivity')") + f", {_STARTED})"
_TODO_AT = ", ".join(
    _ts(f"json_extract({doc}, '$.{f}')")
    for doc, f in (("src.el", "updatedAt"), ("src.el", "addedAt"), ("src.doc", "lastSync"))
)


FEEDS: tuple[Feed, ...] = (
    Feed(
        PLATFORM,
        "session",
        "raw_cloudflare.kv_entries",
        key=_KEY,
        changed_at="synced_at",
        query=_elements("sessions:", "$"),
        where="key LIKE 'sessions:%'",
        columns={
            "session_key": f"'kv:' || {_el('sessionId')}",
            "platform": f"coalesce({_el('platform')}, 'unknown')",
            "ai_tool": f"coalesce({_el('platform')}, 'unknown')",
            "source_id": _el("sessionId"),
            "is_subagent": "false",
            "heartbeat_based": "true",
            "link": "'registered'",
            "project_hint": "nullif(src.project_id, 'default')",
            "machine_id": _el("machineId"),
            "models": "[]::VARCHAR[]",
            "started_at": _STARTED,
            "last_active_at": _LAST,
            "ended_at": f"CASE WHEN json_extract(src.el, '$.active') = 'false'::JSON THEN {_LAST} END",
            "title": f"coalesce({_el('platform')}, 'unknown') || ' session on ' || "
            f"coalesce({_el('machineId')}, 'unknown machine')",
        },
        description="Sessions listed under the sessions:<projectId> KV keys.",
    ),
    Feed(
        PLATFORM,
        "todo",
        "raw_cloudflare.kv_entries",
        key=_KEY,
        changed_at="synced_at",
        query=_elements("sync:todos:", "$.todos"),
        where="key LIKE 'sync:todos:%'",
        columns={
            "todo_key": f"'kv:' || coalesce(json_extract_string(src.doc, '$.projectId'), src.project_id) "
            f"|| ':' || md5({_el('content')})",
            "project_id": "coalesce(json_extract_string(src.doc, '$.projectId'), src.project_id)",
            "session_id": f"coalesce({_el('updatedBy')}, {_el('addedBy')})",
            "session_key": f"'kv:' || coalesce({_el('updatedBy')}, {_el('addedBy')})",
            "list_id": "src.kv_key",
            "source": "'kv'",
            "content": _el("content"),
            "status": _el("status"),
            "active_form": _el("activeForm"),
            "platform": f"'{PLATFORM}'",
            "updated_at": f"coalesce({_TODO_AT})",
        },
        description="Todo items of the sync:todos:<projectId> KV keys (Claude TodoWrite shape).",
    ),
)
