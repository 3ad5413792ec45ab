"""``/api/session`` (and ``/session``): register, heartbeat, end, list (contracts section 1.2, with
fixes 1-3 of section 1.4: 201 only for a new session, a heartbeat that writes, end by key)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, Response

from chitty_pipelines.api import models as m
from chitty_pipelines.api import views
from chitty_pipelines.api.deps import PathId, Read, State, Write, valid_id
from chitty_pipelines.api.errors import ApiError
from chitty_pipelines.api.identity import session_id_for
from chitty_pipelines.api.store import iso, session_ttl_s, utcnow

router = APIRouter(tags=["sessions"])


@router.get("/session", response_model=m.SessionListReply)
def list_sessions(
    api: State,
    _who: Read,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    projectId: Annotated[str | None, Query(max_length=128)] = None,
    aiPlatform: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    if projectId is not None:
        valid_id(projectId, "projectId")
    rows, total = api.hub.sessions_page(limit, offset, projectId, aiPlatform)
    now = utcnow()
    ttl = session_ttl_s()
    _all, active = api.hub.session_counts(iso(now - timedelta(seconds=ttl)) or "")
    return m.fast_reply(
        m.SessionListReply,
        {
            "sessions": [views.session_fields(r, now, ttl) for r in rows],
            "total": total,
            "active": active,
            "limit": limit,
            "offset": offset,
            "timestamp": iso(now) or "",
        },
    )


@router.get("/session/{session_id}", response_model=m.SessionReply, responses={404: {"model": m.ErrorReply}})
def get_session(api: State, _who: Read, session_id: PathId) -> m.SessionReply:
    row = api.hub.session(valid_id(session_id, "session id"))
    if row is None:
        raise ApiError(404, f"session {session_id!r} not found", {"sessionId": session_id})
    return m.SessionReply(session=views.session_out(row))


@router.post(
    "/session",
    status_code=201,
    response_model=m.SessionReply,
    responses={
        200: {"model": m.SessionReply, "description": "already registered (idempotent repeat)"},
        400: {"model": m.ErrorReply},
    },
)
def register_session(api: State, who: Write, body: m.SessionBody) -> JSONResponse:
    if body.projectId:
        api.hub.ensure_project(body.projectId)  # registered on first use: unified links the session
    existing = api.hub.session(body.id)
    chitty_id, id_source = (None, None) if existing else session_id_for(body.id)
    outcome = api.hub.register_session(
        body.id,
        body.aiPlatform or "unknown",
        project_key=body.projectId,
        machine_id=body.machineId,
        metadata=body.metadata,
        chitty_id=chitty_id,
        id_source=id_source,
    )
    reply = m.SessionReply(
        created=outcome.created, message=outcome.message, session=views.session_out(outcome.record or {})
    )
    return JSONResponse(reply.model_dump(mode="json"), status_code=201 if outcome.created else 200)


@router.put(
    "/session/{session_id}",
    response_model=m.SessionReply,
    responses={404: {"model": m.ErrorReply}, 409: {"model": m.ErrorReply}},
)
def heartbeat(
    api: State, _who: Write, session_id: PathId, body: m.HeartbeatBody | None = None
) -> m.SessionReply:
    outcome = api.hub.heartbeat(
        valid_id(session_id, "session id"),
        body.metadata if body else None,
        reopen=bool(body and body.reopen),
    )
    if not outcome.ok:
        if outcome.record is None:
            raise ApiError(404, f"session {session_id!r} not found", {"sessionId": session_id})
        raise ApiError(
            409,
            f"session {session_id!r} has ended; register a new session",
            {"sessionId": session_id, "endedAt": outcome.record.get("ended_at")},
        )
    return m.SessionReply(message=outcome.message, session=views.session_out(outcome.record or {}))


@router.delete(
    "/session/{session_id}", response_model=m.SessionReply, responses={404: {"model": m.ErrorReply}}
)
def end_session(api: State, _who: Write, session_id: PathId) -> m.SessionReply:
    outcome = api.hub.end_session(valid_id(session_id, "session id"))
    if not outcome.ok:
        raise ApiError(404, f"session {session_id!r} not found", {"sessionId": session_id})
    return m.SessionReply(message=outcome.message, session=views.session_out(outcome.record or {}))
