"""Where sessions, heartbeats and todo lists go (``SyncTarget``, not to be confused with the API's
``warehouse.hubstore.Hub``): the hub store (the operational store's SQLite file, or the
PostgreSQL warehouse's ``ops`` schema with ``CHITTY_WAREHOUSE_URL``, which ``chitty-sync serve``
and the unified assets read) or, when ``CHITTY_SYNC_URL`` is set, the sync
service over HTTP. ``sessionsync``, ``projectsync`` and the Claude Code hooks call one interface
and do not care which.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from chitty_pipelines.chittyos.sync_client import SyncClient, SyncServiceError


@dataclass
class Result:
    ok: bool
    created: bool = False
    message: str = ""
    data: dict[str, Any] = field(default_factory=dict)


class SyncTarget(Protocol):
    where: str

    def register_project(self, key: str, name: str, path: str | None, git_remote: str | None) -> Result: ...
    def register_session(
        self, sid: str, project: str | None, platform: str, machine: str | None, metadata: dict[str, Any]
    ) -> Result: ...
    def heartbeat(self, sid: str, metadata: dict[str, Any] | None = None, reopen: bool = False) -> Result: ...
    def end_session(self, sid: str) -> Result: ...
    def sync_todos(
        self, project: str, sid: str, todos: list[dict[str, Any]], platform: str | None
    ) -> Result: ...
    def close(self) -> None: ...


class LocalHub:
    """The hub store this process opens directly (CHITTY_OPSTORE_PATH, or the PostgreSQL
    warehouse with CHITTY_WAREHOUSE_URL)."""

    def __init__(self) -> None:
        from chitty_pipelines.warehouse.opstore_location import default_store

        self.store = default_store()
        self.where = f"local hub {self.store.path}"

    def register_project(self, key: str, name: str, path: str | None, git_remote: str | None) -> Result:
        o = self.store.register_project(key, name, path, git_remote)
        return Result(o.ok, o.created, o.message, dict(o.record or {}))

    def register_session(
        self, sid: str, project: str | None, platform: str, machine: str | None, metadata: dict[str, Any]
    ) -> Result:
        if project:
            self.store.ensure_project(project)  # as the API does: unified can link the session
        o = self.store.register_session(sid, platform, project, machine, metadata)
        return Result(o.ok, o.created, o.message, dict(o.record or {}))

    def heartbeat(self, sid: str, metadata: dict[str, Any] | None = None, reopen: bool = False) -> Result:
        o = self.store.heartbeat(sid, metadata, reopen=reopen)
        return Result(o.ok, False, o.message, dict(o.record or {}))

    def end_session(self, sid: str) -> Result:
        o = self.store.end_session(sid)
        return Result(o.ok, False, o.message, dict(o.record or {}))

    def sync_todos(self, project: str, sid: str, todos: list[dict[str, Any]], platform: str | None) -> Result:
        from chitty_pipelines.api.views import merged

        rows = [
            {"content": t["content"], "status": t["status"], "active_form": t.get("activeForm")}
            for t in todos
        ]
        self.store.ensure_project(project)
        before, after = self.store.add_todo_list(project, sid, rows, platform, merged)
        old = {t.content: t.status for t in before}
        return Result(
            True,
            False,
            "todos synced",
            {
                "totalTodos": len(after),
                "added": sum(1 for t in after if t.content not in old),
                "updated": sum(1 for t in after if t.content in old and old[t.content] != t.status),
            },
        )

    def close(self) -> None:
        pass


class RemoteHub:
    """The sync service at CHITTY_SYNC_URL (errors raise SyncServiceError, naming the variable)."""

    def __init__(self, client: SyncClient):
        self.client = client
        self.where = f"hub {client.base_url}"

    def register_project(self, key: str, name: str, path: str | None, git_remote: str | None) -> Result:
        r = self.client.register_project(key, name, path, git_remote)
        return Result(True, r.created, "registered" if r.created else "updated", r.body.get("project") or {})

    def register_session(
        self, sid: str, project: str | None, platform: str, machine: str | None, metadata: dict[str, Any]
    ) -> Result:
        r = self.client.register_session(sid, project, platform, machine, metadata)
        session = r.body.get("session") or {}
        return Result(True, r.created, r.body.get("message") or "", _session_record(session))

    def heartbeat(self, sid: str, metadata: dict[str, Any] | None = None, reopen: bool = False) -> Result:
        try:
            r = self.client.heartbeat(sid, metadata, reopen=reopen)
        except SyncServiceError as exc:
            if exc.status in (404, 409):  # unknown or ended: an answer, not a transport failure
                return Result(False, False, str(exc))
            raise
        return Result(True, False, r.body.get("message") or "heartbeat recorded")

    def end_session(self, sid: str) -> Result:
        try:
            r = self.client.end_session(sid)
        except SyncServiceError as exc:
            if exc.status == 404:
                return Result(False, False, str(exc))
            raise
        return Result(True, False, r.body.get("message") or "ended")

    def sync_todos(self, project: str, sid: str, todos: list[dict[str, Any]], platform: str | None) -> Result:
        r = self.client.sync_todos(project, sid, todos, platform)
        return Result(
            True, False, "todos synced", {k: r.body.get(k) for k in ("totalTodos", "added", "updated")}
        )

    def close(self) -> None:
        self.client.close()


def _session_record(s: dict[str, Any]) -> dict[str, Any]:
    """The API's camelCase session in the local store's column names (what the CLI prints)."""
    return {"session_id": s.get("id"), "ai_platform": s.get("aiPlatform"), "project_key": s.get("projectId")}


def open_hub(timeout_s: float | None = None, attempts: int = 3) -> SyncTarget:
    client = SyncClient.from_env(timeout_s=timeout_s, attempts=attempts)
    return RemoteHub(client) if client is not None else LocalHub()


__all__ = ["LocalHub", "RemoteHub", "Result", "SyncTarget", "open_hub"]
