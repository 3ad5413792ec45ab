"""``status``, ``todos`` and ``topicsync`` as clients of the hub at ``CHITTY_SYNC_URL`` (contracts
section 1.5: the original client's ``status`` was ``GET /api/status`` plus the six
``/<p>/health`` probes; ``topicsync`` posted recent conversations for the server to file).

stdout carries what a script captures (tables, or one JSON document with ``--json``); errors go
to stderr, name the variable to fix and exit 1.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from chitty_pipelines import config
from chitty_pipelines.chittyos.sync_client import SyncClient, SyncServiceError
from chitty_pipelines.cli.app import console, out, print_table

TOPIC_DAYS = 7  # the original client posted what changed in the last 7 days
TOPIC_CHARS = 2000


@contextmanager
def client() -> Iterator[SyncClient]:
    try:
        c = SyncClient.from_env()
        assert c is not None, "only called with CHITTY_SYNC_URL set"
        try:
            yield c
        finally:
            c.close()
    except SyncServiceError as exc:
        console.print(f"[bold red]error:[/bold red] {exc}", highlight=False)
        raise typer.Exit(1) from None


def status(as_json: bool, health: bool) -> None:
    from chitty_pipelines.platforms import registry

    with client() as c:
        st = c.status().body
        sessions = c.sessions(limit=20).body
        probes: dict[str, Any] = {}
        if health:
            # the local AI-tool platforms answer together under /local, as the original's did
            for name in [*(p.name for p in registry.PLATFORMS if not p.local), "local"]:
                probes[name] = c.platform_health(name).body
    if as_json:
        out.print_json(json.dumps({"hub": c.base_url, "status": st, "sessions": sessions, "health": probes}))
        return
    table = Table(title=f"chitty-pipelines status (hub {c.base_url})")
    for column in ("platform", "status", "last sync", "rows", "health"):
        table.add_column(column)
    local = {spec.name for spec in registry.PLATFORMS if spec.local}
    for name, p in (st.get("platforms") or {}).items():
        h = probes.get("local" if name in local else name) or {}  # the local tools share one probe
        health_text = h.get("status", "-") + (f": {h['reason']}" if h.get("reason") else "")
        rows = f"{p.get('rows'):,}" if isinstance(p.get("rows"), int) else "-"
        table.add_row(name, p.get("status", "-"), p.get("last_sync") or "never", rows, escape(health_text))
    print_table(table)
    s, pr, t = st.get("sessions", {}), st.get("projects", {}), st.get("topics", {})
    out.print(
        f"hub: {pr.get('total', 0)} projects, {s.get('total', 0)} sessions ({s.get('active', 0)} active), "
        f"{t.get('total_conversations', 0)} topic conversations",
        highlight=False,
    )
    recent = Table(title="latest sessions")
    for column in ("session", "platform", "project", "machine", "status", "last active"):
        recent.add_column(column)
    for x in sessions.get("sessions", []):
        recent.add_row(
            x["id"], x["aiPlatform"], x.get("projectId") or "-", escape(x.get("machineId") or "-"),
            x["status"], x["lastActiveAt"],
        )  # fmt: skip
    print_table(recent)


_STATUS_ORDER = {"in_progress": 0, "pending": 1, "completed": 2}


def todos(project: str | None, show_all: bool, as_json: bool) -> None:
    """The hub's merged lists, printed as the local ``chitty-sync todos`` prints unified.todos:
    the same columns and order (in progress, pending, completed; then added), markdown when piped,
    ``nothing open on X`` (exit 0) for a project the hub knows without open todos, exit 1 for one
    it does not know."""
    with client() as c:
        try:
            body = c.todos(project).body
        except SyncServiceError as exc:
            # Only the hub's own 404 ({success: false, ...}) means "no todos for this project";
            # another server's 404 is a wrong CHITTY_SYNC_URL, and SyncServiceError says so.
            if exc.status != 404 or project is None or not isinstance(exc.body, dict):
                raise
            if not _hub_knows_project(c, project):
                console.print(
                    f"unknown project {project!r} on hub {c.base_url} "
                    "(`chitty-sync todos` lists the projects with todos)",
                    markup=False,
                    highlight=False,
                )
                raise typer.Exit(1) from None
            if as_json:
                body = {
                    "projectId": project,
                    "todos": [],
                    "lastSync": None,
                    "sessions": [],
                    "totalUpdates": 0,
                }
                out.print_json(json.dumps(body))
            else:
                out.print(f"nothing open on {project} (no todos recorded)", markup=False, highlight=False)
            return
    print_todos(body, project, show_all, as_json, f"hub {c.base_url}")


def print_todos(body: dict[str, Any], project: str | None, show_all: bool, as_json: bool, where: str) -> None:
    """A ``GET /api/todos`` (project None) or ``GET /api/todos/:projectId`` answer, printed as the
    local command prints unified.todos; ``where`` names the source in the titles."""
    if as_json:
        out.print_json(json.dumps(body))
        return
    if project is None:
        table = Table(title=f"todos per project ({where})")
        for column in ("project", "open", "in progress", "pending", "completed", "sessions", "last sync"):
            table.add_column(column)
        rows = sorted(
            body.get("projects", []),
            key=lambda p: (-(p["pendingTodos"] + p["inProgressTodos"]), p["projectId"]),
        )
        for p in rows:
            table.add_row(
                escape(p["projectId"]), str(p["pendingTodos"] + p["inProgressTodos"]),
                str(p["inProgressTodos"]), str(p["pendingTodos"]), str(p["completedTodos"]),
                str(len(p["sessions"])), p.get("lastSync") or "-",
            )  # fmt: skip
        if rows:
            print_table(table)
        else:
            out.print("no todos")
        return
    every = body.get("todos", [])
    items = sorted(
        (t for t in every if show_all or t["status"] != "completed"),
        key=lambda t: (_STATUS_ORDER.get(t["status"], 3), t.get("addedAt") or "", t["content"]),
    )
    open_count = sum(1 for t in every if t["status"] != "completed")
    table = Table(title=f"todos of {project} ({open_count} open of {len(every)}; {where})")
    for column in ("status", "content", "added by", "added at", "updated by", "updated at"):
        table.add_column(column)
    for t in items:
        # escape: a todo's text is data, not rich markup ("fix list[int]" must not lose "[int]")
        table.add_row(
            t["status"], escape(t["content"]), escape(t.get("addedBy") or "-"), t.get("addedAt") or "-",
            escape(t.get("updatedBy") or "-"), t.get("updatedAt") or "-",
        )  # fmt: skip
    if items:
        print_table(table)
    else:
        out.print(f"nothing open on {project}", markup=False, highlight=False)


def _hub_knows_project(c: SyncClient, project: str) -> bool:
    try:
        c.request("GET", f"/api/project/{project}")
    except SyncServiceError as exc:
        if exc.status == 404 and isinstance(exc.body, dict):
            return False
        raise
    return True


def _first_user_text(path: Path, limit: int = TOPIC_CHARS) -> str:
    """The user's words at the start of a Claude Code transcript (session-formats.md 1.5/1.6)."""
    parts: list[str] = []
    size = 0
    with path.open(encoding="utf-8", errors="replace") as fh:
        for line in fh:
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if not isinstance(rec, dict) or rec.get("type") != "user" or rec.get("isMeta"):
                continue
            content = (rec.get("message") or {}).get("content")
            if isinstance(content, list):
                content = " ".join(
                    b.get("text", "") for b in content if isinstance(b, dict) and b.get("type") == "text"
                )
            if isinstance(content, str) and content.strip():
                parts.append(content.strip())
                size += len(content)
            if size >= limit:
                break
    return "\n".join(parts)[:limit]


def topicsync(days: int = TOPIC_DAYS) -> None:
    """Post the opening of each Claude Code transcript changed in the last ``days`` days; the hub
    files each under a topic (fix 11: the client sends content, the server derives the category)."""
    import re

    since = time.time() - days * 86400
    files = [
        f
        for home in config.load_settings().claude_homes
        for f in (home / "projects").glob("*/*.jsonl")
        if f.stat().st_mtime >= since
    ]
    posted: dict[str, int] = {}
    skipped = 0
    with client() as c:
        for f in sorted(files):
            text = _first_user_text(f)
            sid = re.sub(r"[^A-Za-z0-9._:@-]", "-", f.stem)[:128]
            if not text or not sid[:1].isalnum():
                skipped += 1
                continue
            reply = c.post_topic(sid, text, str(f))
            category = (reply.body.get("conversation") or {}).get("category", "?")
            posted[category] = posted.get(category, 0) + 1
    summary = ", ".join(f"{k} {v}" for k, v in sorted(posted.items(), key=lambda kv: -kv[1])) or "none"
    console.print(
        f"topicsync: {sum(posted.values())} conversations filed on hub {c.base_url} ({summary}); "
        f"{skipped} without user text",
        highlight=False,
    )


__all__ = ["print_todos", "status", "todos", "topicsync"]
