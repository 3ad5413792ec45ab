"""``GET /health`` (public) and ``GET /api/status`` (and ``/status``): the section 1.1 shape with real
facts, and the status with ``platforms`` that ChittyCheck test 13 looks for (fix 6)."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Response

from chitty_pipelines.api import models as m
from chitty_pipelines.api.deps import Read, State
from chitty_pipelines.api.store import iso, session_ttl_s, utcnow
from chitty_pipelines.ops.jobs import LOCAL_TARGET
from chitty_pipelines.platforms import registry

public = APIRouter(tags=["health"])
router = APIRouter(tags=["health"])

RESOURCES = ["project", "session", "topic", "todos", "sync", "runs"]


def _endpoints() -> dict[str, str]:
    return {
        "health": "GET /health",
        "status": "GET /api/status",
        "projects": "GET|POST /api/project, GET|PUT|DELETE /api/project/{id}",
        "sessions": "GET|POST /api/session, GET|PUT|DELETE /api/session/{id}",
        "topics": "GET|POST /api/topic, GET /api/topic/{category}, PUT|DELETE /api/topic/{id}",
        "todos": "GET /api/todos, GET|POST|DELETE /api/todos/{project}, PUT /api/todos/{project}/sync",
        "sync": "POST /api/sync, GET /api/sync, GET /api/sync/{runId}, GET /api/runs/{runId}",
        "history": "GET /api/history",
        "platforms": "GET /{platform}/health, POST /{platform}/sync",
        "docs": "GET /docs, GET /openapi.json",
    }


@public.get("/health", response_model=m.HealthReply)
def health(api: State) -> m.HealthReply:
    warehouse = api.store.warehouse.probe()
    try:
        api.hub.write_stamp()
        hub = {"reachable": True, "path": str(api.hub.path)}
    except Exception as exc:
        hub = {"reachable": False, "path": str(api.hub.path), "reason": type(exc).__name__}
    try:
        last = api.runs.last_syncall()
    except Exception as exc:  # the Dagster instance is optional to being healthy
        last = {"error": f"Dagster instance unreadable: {type(exc).__name__}"}
    healthy = hub["reachable"]
    return m.HealthReply(
        status="healthy" if healthy else "degraded",
        version=api.version,
        platforms=[*registry.NAMES, LOCAL_TARGET],
        resources=RESOURCES,
        endpoints=_endpoints(),
        warehouse=warehouse,
        hub=hub,
        last_syncall=last,
        timestamp=iso(utcnow()) or "",
    )


def _state(configured: bool, row: dict | None) -> m.PlatformState:
    row = row or {}
    if not configured:
        status = "not_configured"
    elif not row.get("last_status"):
        status = "never_synced"
    else:
        status = "failed" if row["last_status"] == "failed" else "ok"
    return m.PlatformState(
        status=status,  # type: ignore[arg-type]
        configured=configured,
        last_sync=row.get("last_sync"),
        last_status=row.get("last_status"),
        rows=row.get("rows"),
    )


@router.get("/status", response_model=m.StatusReply)
def status(api: State, _who: Read) -> Response:
    rows, meta = api.store.platforms()
    now = utcnow()
    total, active = api.hub.session_counts(iso(now - timedelta(seconds=session_ttl_s())) or "")
    unified, _ = api.store.unified_projects()
    registered = {p["project_key"] for p in api.hub.projects()}
    topics, _ = api.store.topic_categories()
    conversations = api.hub.conversations()
    reply = m.StatusReply(
        version=api.version,
        timestamp=iso(now) or "",
        projects={
            "total": len(registered | {p["project_key"] for p in unified}),
            "registered": len(registered),
            "synced": len(unified),
        },
        sessions={"total": total, "active": active},
        topics={
            "categories": len({t["topic_id"] for t in topics} | {c["category"] for c in conversations}),
            "total_conversations": len(conversations),
        },
        platforms={name: _state(ok, rows.get(name)) for name, ok in api.store.configured().items()},
        warehouse=meta,
    )
    return m.model_reply(reply)
