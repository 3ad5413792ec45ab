"""Stored rows as API objects (models.py), and the rules that derive fields: a session's status
(section 7 of the contracts) and the merged todo list (unified/todo_merge.py, the one merge)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import orjson

from chitty_pipelines.api import models as m
from chitty_pipelines.api.store import SESSION_ARCHIVE_DAYS, iso, session_ttl_s, utcnow
from chitty_pipelines.kernel.text import clean_json
from chitty_pipelines.unified.todo_merge import (
    MergedTodo,
    TodoObservation,
    merge,
    normalize,
    project_summaries,
)


def session_status(row: dict[str, Any], now: datetime | None = None, ttl_s: float | None = None) -> str:
    """``inactive`` once ended; ``archived`` when ended or silent for more than 7 days (section 7);
    ``stale`` when heartbeats stopped for longer than SESSION_TTL; else ``active``. Staleness comes
    from ``last_active_at``, never from a storage TTL (fix 2 of section 1.4)."""
    now = now or utcnow()
    last = datetime.fromisoformat(row["last_heartbeat_at"])
    ended = datetime.fromisoformat(row["ended_at"]) if row.get("ended_at") else None
    archive_after = timedelta(days=SESSION_ARCHIVE_DAYS)
    if now - (ended or last) > archive_after:
        return "archived"
    if ended is not None:
        return "inactive"
    if (now - last).total_seconds() > (session_ttl_s() if ttl_s is None else ttl_s):
        return "stale"
    return "active"


def session_fields(
    row: dict[str, Any], now: datetime | None = None, ttl_s: float | None = None
) -> dict[str, Any]:
    """A stored session as the fields of ``SessionOut``, not yet validated: a page of sessions is
    validated in one call of its reply model (pydantic-core), not row by row in Python.

    ``ttl_s``: SESSION_TTL read once by a caller rendering many sessions (an environment lookup
    per row was a tenth of a session page's CPU)."""
    status = session_status(row, now, ttl_s)
    return {
        "id": row["session_id"],
        "sessionId": row["session_id"],
        "chittyId": row.get("chitty_id"),
        "idSource": row.get("id_source"),
        "projectId": row.get("project_key"),
        "aiPlatform": row["ai_platform"],
        "machineId": row.get("machine_id"),
        "status": status,
        "active": status == "active",
        "startedAt": row["started_at"],
        "lastActiveAt": row["last_heartbeat_at"],
        "endedAt": row.get("ended_at"),
        "heartbeats": int(row.get("heartbeats") or 0),
        "metadata": _metadata(row.get("metadata")),
    }


def _metadata(text: str | None) -> dict[str, Any]:
    """A session's stored metadata. Before the API refused them, NaN and Infinity were stored
    (Python's JSON writes them, orjson does not read them): such a row reads with null in their
    place instead of failing every read of its session; likewise lone surrogates (stored before
    the API replaced them) read as U+FFFD."""
    try:
        return orjson.loads(text or "{}")
    except orjson.JSONDecodeError:
        return clean_json(json.loads(text, parse_constant=lambda _: None), keep_nul=True)


def session_out(row: dict[str, Any], now: datetime | None = None) -> m.SessionOut:
    return m.SessionOut.model_validate(session_fields(row, now))


def project_out(hub: dict[str, Any] | None, unified: dict[str, Any] | None) -> m.ProjectOut:
    """A project as registered in the hub, completed by what the unified table knows."""
    u = unified or {}
    h = hub or {}
    extra = {}
    if unified:
        extra = {
            "chittyId": u.get("chitty_id"),
            "idSource": u.get("id_source"),
            "platforms": list(u.get("platforms") or []),
            "lastActivity": iso(u.get("last_active_at")),
        }
    return m.ProjectOut(
        id=h.get("project_key") or u["project_key"],
        name=h.get("name") or u.get("name"),
        path=h.get("path") or u.get("registered_path"),
        gitRemote=h.get("git_remote") or u.get("git_remote"),
        registered=bool(hub),
        registeredAt=h.get("registered_at"),
        updatedAt=h.get("updated_at"),
        **extra,
    )


def conversation_out(row: dict[str, Any]) -> m.ConversationOut:
    return m.ConversationOut(
        id=row["conversation_id"],
        category=row["category"],
        subcategories=json.loads(row.get("subcategories") or "[]"),
        confidence=float(row["confidence"]),
        file=row.get("file"),
        content_preview=row.get("content_preview"),
        categorized=row["categorized_at"],
        updated=row["updated_at"],
        categorizedBy=row.get("categorized_by") or "client",
    )


# --- todos: the hub's stored lists through the one merge ----------------------------------------
def observations(rows: list[dict[str, Any]]) -> list[TodoObservation]:
    out = []
    for r in rows:
        item = normalize(r["content"], r["status"])
        if item is None:
            continue
        out.append(
            TodoObservation(
                project_key=r["project_key"],
                session_key=r["session_id"],
                ai_tool=r.get("ai_tool"),
                observed_at=datetime.fromisoformat(r["observed_at"]),
                list_id=r["list_id"],
                position=int(r["position"]),
                source="api",
                content=item[0],
                status=item[1],
                active_form=r.get("active_form"),
            )
        )
    return out


def merged(rows: list[dict[str, Any]]) -> list[MergedTodo]:
    return merge(observations(rows))


def todo_out(t: MergedTodo) -> m.TodoOut:
    return m.TodoOut(
        content=t.content,
        status=t.status,  # type: ignore[arg-type]
        activeForm=t.active_form,
        addedBy=t.added_by,
        addedAt=iso(t.added_at),
        updatedBy=t.updated_by,
        updatedAt=iso(t.updated_at),
    )


def todo_summaries(rows: list[dict[str, Any]]) -> list[m.TodoSummary]:
    obs = observations(rows)
    return [
        m.TodoSummary(
            projectId=p["project_key"],
            todoCount=p["todo_count"],
            lastSync=iso(p["last_sync"]),
            sessions=p["sessions"],
            pendingTodos=p["pending_todos"],
            inProgressTodos=p["in_progress_todos"],
            completedTodos=p["completed_todos"],
        )
        for p in project_summaries(obs, merge(obs), {})
        if p["project_key"]
    ]


def todo_project(project_key: str, rows: list[dict[str, Any]]) -> m.TodoProjectReply:
    obs = observations(rows)
    todos = merge(obs)
    last = max((o.observed_at for o in obs if o.observed_at), default=None)
    return m.TodoProjectReply(
        projectId=project_key,
        todos=[todo_out(t) for t in todos],
        lastSync=iso(last),
        sessions=sorted({o.session_key for o in obs}),
        totalUpdates=len({o.list_id for o in obs}),
    )
