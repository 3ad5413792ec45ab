"""``POST /hooks/claude-code``: Claude Code's HTTP hooks post their event JSON here (installed by
``chitty-sync hooks install --http``; the token in the Authorization header, scope write).

The same actions as the command hooks (cli/hooks.py): SessionStart registers (or re-activates),
UserPromptSubmit/Stop heartbeat, PostToolUse of TodoWrite syncs the todo list, SessionEnd ends.
Success is **204 with an empty body**: Claude Code reads a hook's output as instructions (and for
SessionStart/UserPromptSubmit adds it to the model's context), so nothing is said.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Annotated, Any

from fastapi import APIRouter, Body, Response

from chitty_pipelines.api import models as m
from chitty_pipelines.api import views
from chitty_pipelines.api.deps import State, Write, valid_id
from chitty_pipelines.api.errors import ApiError
from chitty_pipelines.api.identity import session_id_for
from chitty_pipelines.kernel.text import clean_json
from chitty_pipelines.unified.resolution import slugify

router = APIRouter(tags=["hooks"])
PLATFORM = "claude_code"
STATUSES = ("pending", "in_progress", "completed")


def _register(api: Any, sid: str, project: str | None, meta: dict[str, Any], machine: str | None) -> bool:
    if project:
        api.hub.ensure_project(project)
    if api.hub.session(sid) is not None:
        return False
    chitty_id, id_source = session_id_for(sid)
    api.hub.register_session(
        sid, PLATFORM, project_key=project, machine_id=machine, metadata=meta,
        chitty_id=chitty_id, id_source=id_source,
    )  # fmt: skip
    return True


@router.post(
    "/hooks/claude-code",
    status_code=204,
    response_class=Response,
    responses={400: {"model": m.ErrorReply}},
)
def claude_code_hook(api: State, who: Write, payload: Annotated[dict[str, Any], Body()]) -> Response:
    # A lone surrogate (JSON.stringify writes one as "\udc80") or NUL cannot be stored: replaced,
    # so one odd character in a todo costs neither the list nor a 500.
    payload = clean_json(payload)
    sid = payload.get("session_id")
    if not isinstance(sid, str):
        raise ApiError(400, "session_id (string) required")
    valid_id(sid, "session_id")
    event = payload.get("hook_event_name")
    cwd = payload.get("cwd") if isinstance(payload.get("cwd"), str) else None
    project = (slugify(PurePosixPath(cwd).name) or None) if cwd else None
    if project:
        valid_id(project, "project (from cwd)")
    meta = {k: payload[k][:500] for k in ("cwd", "source", "model") if isinstance(payload.get(k), str)}
    machine = f"http:{who.name}"  # an HTTP hook cannot say its host; the token's name tells machines apart
    if event == "SessionStart":
        if not _register(api, sid, project, meta, machine):
            api.hub.heartbeat(sid, meta, reopen=True)  # resumed: active again, even after its end
    elif event in ("UserPromptSubmit", "Stop"):
        if not api.hub.heartbeat(sid).ok:
            _register(api, sid, project, meta, machine)
    elif event == "SessionEnd":
        if api.hub.session(sid) is None:
            _register(api, sid, project, meta, machine)
        api.hub.end_session(sid)
    elif event == "PostToolUse" and payload.get("tool_name") == "TodoWrite":
        if project is None:
            raise ApiError(400, "cwd required to know the todo list's project")
        tool_input = payload.get("tool_input")
        items = tool_input.get("todos") if isinstance(tool_input, dict) else None
        if not isinstance(items, list):
            raise ApiError(400, "tool_input.todos must be a list")
        rows = [
            {
                "content": str(t["content"])[:2000],
                "status": t.get("status") if t.get("status") in STATUSES else "pending",
                "active_form": str(t["activeForm"])[:2000] if t.get("activeForm") else None,
            }
            for t in items
            if isinstance(t, dict) and isinstance(t.get("content"), str) and t["content"].strip()
        ][: m.TODOS_MAX]  # as the command hook: the first TODOS_MAX items, never none of a long list
        _register(api, sid, project, meta, machine)
        api.hub.add_todo_list(project, sid, rows, PLATFORM, views.merged)
    elif not isinstance(event, str):
        raise ApiError(400, "hook_event_name (string) required")
    # any other event (PreToolUse, Notification...): accepted, nothing to record
    return Response(status_code=204)
