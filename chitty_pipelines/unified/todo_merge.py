"""The original sync service's todo merge (contracts §7), as a pure function.

Rules, per project:

* the key is ``content`` (exact, after trimming surrounding whitespace);
* a new item gets ``added_by`` / ``added_at`` (the session and time of the first list holding it);
* status precedence is completed > in_progress > pending (the original's cron dedupe): an item
  keeps the highest status any session reported, so a stale list from another session never
  re-opens finished work;
* a status change that takes effect sets ``updated_by`` / ``updated_at``.

Lists are replayed oldest first with a total order (time, session, source position), so the
result does not depend on the order rows were read in and a re-run is exact.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

RANK = {"pending": 0, "in_progress": 1, "completed": 2}
STATUSES = tuple(RANK)


@dataclass(frozen=True)
class TodoObservation:
    """One item of one todo list (a TodoWrite call, a todos/ file or a task file)."""

    project_key: str | None
    session_key: str
    ai_tool: str | None
    observed_at: datetime | None
    list_id: str  # the list the item was in: source_file:line_no:block
    position: int
    source: str
    content: str
    status: str
    active_form: str | None = None
    priority: str | None = None


@dataclass
class MergedTodo:
    project_key: str | None
    content: str
    status: str
    first_status: str
    added_by: str
    added_by_tool: str | None
    added_at: datetime | None
    active_form: str | None
    priority: str | None
    updated_by: str | None = None
    updated_by_tool: str | None = None
    updated_at: datetime | None = None
    sessions: set[str] = field(default_factory=set)
    lists: set[str] = field(default_factory=set)
    sources: set[str] = field(default_factory=set)
    last_seen_at: datetime | None = None

    def row(self) -> dict[str, Any]:
        return {
            "project_key": self.project_key,
            "content": self.content,
            "status": self.status,
            "is_open": self.status != "completed",
            "active_form": self.active_form,
            "priority": self.priority,
            "added_by": self.added_by,
            "added_by_tool": self.added_by_tool,
            "added_at": self.added_at,
            "updated_by": self.updated_by,
            "updated_by_tool": self.updated_by_tool,
            "updated_at": self.updated_at,
            "first_status": self.first_status,
            "sessions": sorted(self.sessions),
            "session_count": len(self.sessions),
            "snapshots": len(self.lists),
            "sources": sorted(self.sources),
            "last_seen_at": self.last_seen_at,
        }


def normalize(content: Any, status: Any) -> tuple[str, str] | None:
    """(content, status) of a usable item, else None: no content, or a status outside the three
    the contract knows (tasks may carry others, e.g. deleted)."""
    if not isinstance(content, str) or not content.strip():
        return None
    s = str(status or "").strip().lower()
    return (content.strip(), s) if s in RANK else None


def _order(o: TodoObservation) -> tuple[Any, ...]:
    # Undated lists (rare: a state file without mtime) sort after dated ones.
    return (o.observed_at is None, o.observed_at or datetime.min, o.session_key, o.list_id, o.position)


def merge(observations: Iterable[TodoObservation]) -> list[MergedTodo]:
    """Merge every observation into one item per (project_key, content), in a stable order."""
    items: dict[tuple[str | None, str], MergedTodo] = {}
    for o in sorted(observations, key=_order):
        key = (o.project_key, o.content)
        cur = items.get(key)
        if cur is None:
            cur = items[key] = MergedTodo(
                project_key=o.project_key,
                content=o.content,
                status=o.status,
                first_status=o.status,
                added_by=o.session_key,
                added_by_tool=o.ai_tool,
                added_at=o.observed_at,
                active_form=o.active_form,
                priority=o.priority,
            )
        elif RANK[o.status] > RANK[cur.status]:
            cur.status = o.status
            cur.updated_by, cur.updated_by_tool, cur.updated_at = o.session_key, o.ai_tool, o.observed_at
        if o.active_form:
            cur.active_form = o.active_form
        if o.priority:
            cur.priority = o.priority
        cur.sessions.add(o.session_key)
        cur.lists.add(o.list_id)
        cur.sources.add(o.source)
        if o.observed_at is not None:
            cur.last_seen_at = max(cur.last_seen_at or o.observed_at, o.observed_at)
    return sorted(items.values(), key=lambda t: (t.project_key or "", t.added_at is None,
                                                  t.added_at or datetime.min, t.content))  # fmt: skip


def project_summaries(
    observations: list[TodoObservation], merged: list[MergedTodo], names: dict[str, str]
) -> list[dict[str, Any]]:
    """One row per project with todos, as GET /api/todos listed them."""
    out: dict[str | None, dict[str, Any]] = {}
    for t in merged:
        row = out.setdefault(t.project_key, {
            "project_key": t.project_key, "project_name": names.get(t.project_key or ""),
            "todo_count": 0, "open_count": 0, "pending_todos": 0, "in_progress_todos": 0,
            "completed_todos": 0, "sessions": set(), "lists": set(), "last_sync": None,
        })  # fmt: skip
        row["todo_count"] += 1
        row["open_count"] += t.status != "completed"
        row[f"{t.status}_todos"] += 1
    for o in observations:
        row = out.get(o.project_key)
        if row is None:
            continue
        row["sessions"].add(o.session_key)
        row["lists"].add(o.list_id)
        if o.observed_at is not None:
            row["last_sync"] = max(row["last_sync"] or o.observed_at, o.observed_at)
    rows = []
    for row in out.values():
        row["sessions"] = sorted(row["sessions"])
        row["total_updates"] = len(row.pop("lists"))
        rows.append(row)
    return sorted(rows, key=lambda r: r["project_key"] or "")
