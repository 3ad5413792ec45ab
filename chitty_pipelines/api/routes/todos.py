"""``/api/todos`` (and ``/todos``), plus ``POST /api/v1/todos/sync`` that the original's cron called
and nothing served. Lists are stored as submitted; what every route answers is the one merge of
the original's rules (unified/todo_merge.py: key content; completed > in_progress > pending;
addedBy/addedAt, updatedBy/updatedAt)."""

from __future__ import annotations

from fastapi import APIRouter

from chitty_pipelines.api import models as m
from chitty_pipelines.api import views
from chitty_pipelines.api.deps import PathId, Read, State, Write, valid_id
from chitty_pipelines.api.errors import ApiError
from chitty_pipelines.api.store import iso, utcnow

router = APIRouter(tags=["todos"])
v1_router = APIRouter(prefix="/api/v1", tags=["todos"])


@router.get("/todos", response_model=m.TodoListReply)
def list_todos(api: State, _who: Read) -> m.TodoListReply:
    projects = views.todo_summaries(api.hub.todo_rows())
    return m.TodoListReply(projects=projects, total=len(projects), timestamp=iso(utcnow()) or "")


@router.get(
    "/todos/{project_id}", response_model=m.TodoProjectReply, responses={404: {"model": m.ErrorReply}}
)
def get_todos(api: State, _who: Read, project_id: PathId) -> m.TodoProjectReply:
    key = valid_id(project_id, "project id")
    rows = api.hub.todo_rows(key)
    if not rows:
        raise ApiError(404, f"no todos for project {key!r}", {"projectId": key})
    return views.todo_project(key, rows)


def _sync(
    api, project_id: str, session_id: str, items: list[m.TodoIn], ai_tool: str | None
) -> m.TodoSyncReply:  # type: ignore[no-untyped-def]
    key = valid_id(project_id, "project id")
    rows = [{"content": t.content, "status": t.status, "active_form": t.activeForm} for t in items]
    api.hub.ensure_project(key)  # registered on first use, so unified.todos can name the project
    before, after = api.hub.add_todo_list(key, session_id, rows, ai_tool, views.merged)
    old = {t.content: t.status for t in before}
    added = sum(1 for t in after if t.content not in old)
    updated = sum(1 for t in after if t.content in old and old[t.content] != t.status)
    return m.TodoSyncReply(
        projectId=key,
        sessionId=session_id,
        todos=[views.todo_out(t) for t in after],
        totalTodos=len(after),
        added=added,
        updated=updated,
        lastSync=iso(utcnow()) or "",
    )


@router.put(
    "/todos/{project_id}/sync", response_model=m.TodoSyncReply, responses={400: {"model": m.ErrorReply}}
)
def sync_todos(api: State, _who: Write, project_id: PathId, body: m.TodoSyncBody) -> m.TodoSyncReply:
    return _sync(api, project_id, body.sessionId, body.todos, body.aiPlatform)


@router.post("/todos/{project_id}", response_model=m.TodoSyncReply, responses={400: {"model": m.ErrorReply}})
def post_todos(api: State, who: Write, project_id: PathId, body: m.TodoPostBody) -> m.TodoSyncReply:
    # The original replaced the list wholesale; here it is one more list in the merge, so a client
    # that posts an old list cannot re-open finished work.
    return _sync(api, project_id, body.sessionId or f"api:{who.name}", body.todos, None)


@router.delete(
    "/todos/{project_id}", response_model=m.TodoClearReply, responses={404: {"model": m.ErrorReply}}
)
def clear_todos(api: State, _who: Write, project_id: PathId) -> m.TodoClearReply:
    key = valid_id(project_id, "project id")
    removed = api.hub.clear_todos(key)
    if not removed:
        raise ApiError(404, f"no todos for project {key!r}", {"projectId": key})
    return m.TodoClearReply(projectId=key, removed=removed)


@v1_router.post("/todos/sync", response_model=m.TodoSyncReply, responses={400: {"model": m.ErrorReply}})
def v1_sync(api: State, _who: Write, body: m.TodoV1SyncBody) -> m.TodoSyncReply:
    """What ``hooks/auto-consolidate-cron.sh`` of the original posted (it fell through to a 200)."""
    return _sync(api, body.projectId, body.sessionId, body.todos, body.aiPlatform)
