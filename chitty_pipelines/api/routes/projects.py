"""``/api/project`` (and ``/project``): registered projects (hub store) joined with the unified
projects the syncs built (warehouse snapshot). Contracts section 1.2 with fixes 1, 8 and 10."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from chitty_pipelines import config
from chitty_pipelines.api import models as m
from chitty_pipelines.api import views
from chitty_pipelines.api.deps import Admin, PathId, Read, State, Write, valid_id
from chitty_pipelines.api.errors import ApiError
from chitty_pipelines.api.store import iso, utcnow
from chitty_pipelines.unified.resolution import slugify

router = APIRouter(tags=["projects"])


def _services_project() -> str:
    return config.env("CHITTY_SERVICES_PROJECT") or "chittyos-services"


@router.get("/project", response_model=m.ProjectListReply)
def list_projects(api: State, _who: Read) -> m.ProjectListReply:
    unified, meta = api.store.unified_projects()
    registered = {p["project_key"]: p for p in api.hub.projects()}
    by_key = {u["project_key"]: u for u in unified}
    keys = sorted(set(registered) | set(by_key))
    projects = [views.project_out(registered.get(k), by_key.get(k)) for k in keys]
    return m.ProjectListReply(
        projects=projects, total=len(projects), timestamp=iso(utcnow()) or "", warehouse=meta
    )


@router.get(
    "/project/{project_id}", response_model=m.ProjectDetailReply, responses={404: {"model": m.ErrorReply}}
)
def get_project(api: State, _who: Read, project_id: PathId) -> m.ProjectDetailReply:
    key = valid_id(project_id, "project id")
    hub = api.hub.project(key)
    unified, _meta = api.store.unified_projects()
    u = next((p for p in unified if p["project_key"] == key), None)
    if hub is None and u is None:
        raise ApiError(404, "Project not found", {"projectId": key})
    rows, total = api.hub.sessions_page(1000, 0, project_key=key)
    sessions = [views.session_out(r) for r in rows]
    return m.ProjectDetailReply(
        project=views.project_out(hub, u),
        sessions=sessions,
        totalSessions=total,
        activeSessions=sum(1 for s in sessions if s.active),
    )


def _register(api, key: str, name: str | None, path: str | None, git_remote: str | None) -> JSONResponse:  # type: ignore[no-untyped-def]
    old = api.hub.project(key)
    outcome = api.hub.register_project(key, name or (old or {}).get("name") or key, path, git_remote)
    unified, _meta = api.store.unified_projects()
    u = next((p for p in unified if p["project_key"] == key), None)
    reply = m.ProjectReply(
        created=outcome.created,
        project=views.project_out(outcome.record, u),
        # Truthful (fix 10): registration of the core services follows the services project's sync
        # (the services_project sensor); this only says whether this is that project.
        servicesRegistered=key == _services_project(),
    )
    return JSONResponse(reply.model_dump(mode="json"), status_code=201 if outcome.created else 200)


@router.post(
    "/project",
    status_code=201,
    response_model=m.ProjectReply,
    responses={
        200: {"model": m.ProjectReply, "description": "existing project updated"},
        400: {"model": m.ErrorReply},
    },
)
def register_project(api: State, _who: Write, body: m.ProjectBody) -> JSONResponse:
    if body.id is None and body.name is None:
        raise ApiError(400, "id or name required")
    key = body.id or slugify(body.name or "")
    if not key:
        raise ApiError(400, "name gives no usable project id; send id")
    return _register(api, valid_id(key, "project id"), body.name, body.path, body.gitRemote)


@router.put(
    "/project/{project_id}",
    response_model=m.ProjectReply,
    responses={201: {"model": m.ProjectReply, "description": "registered now"}, 400: {"model": m.ErrorReply}},
)
def put_project(
    api: State, _who: Write, project_id: PathId, body: m.ProjectPutBody | None = None
) -> JSONResponse:
    b = body or m.ProjectPutBody()
    return _register(api, valid_id(project_id, "project id"), b.name, b.path, b.gitRemote)


@router.delete(
    "/project/{project_id}", response_model=m.DeletedReply, responses={404: {"model": m.ErrorReply}}
)
def delete_project(api: State, _who: Admin, project_id: PathId) -> m.DeletedReply:
    key = valid_id(project_id, "project id")
    if not api.hub.delete_project(key):
        raise ApiError(404, "Project not registered", {"projectId": key})
    return m.DeletedReply(
        deleted=True,
        note="Registration removed from the hub; data the platforms hold stays, and unified.projects "
        "drops the project at its next build unless a platform still names it.",
    )
