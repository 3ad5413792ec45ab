"""``chitty-sync todos [PROJECT]``: what is open on each project, from unified/todos (the merged
TodoWrite lists; run ``syncall`` or ``projectsync`` to refresh them). ``--json`` answers in the
shapes of the original's ``GET /api/todos`` and ``GET /api/todos/:projectId`` (contracts §1.2)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from chitty_pipelines.cli.app import console, out, print_table

_ORDER = "CASE status WHEN 'in_progress' THEN 0 WHEN 'pending' THEN 1 ELSE 2 END"


def register(app: typer.Typer) -> None:
    """Add ``todos`` to the ``chitty-sync`` app (cli/__init__.py calls this)."""
    app.command()(todos)


def _missing(value: Any) -> bool:
    """None, NaN or NaT (pandas' nulls for strings and timestamps)."""
    import pandas as pd

    return value is None or (not isinstance(value, (list, tuple)) and not hasattr(value, "__len__")
                             and bool(pd.isna(value)))  # fmt: skip


def _iso(value: Any) -> str | None:
    if _missing(value):
        return None
    if hasattr(value, "to_pydatetime"):
        value = value.to_pydatetime()
    return value.isoformat() if isinstance(value, datetime) else str(value)


def _none(value: Any) -> Any:
    return None if _missing(value) else value


# What the listing prints for todos whose sessions are linked to no project (project_key null);
# given as PROJECT it shows them.
NO_PROJECT = "(no project)"


def todos(
    project: Annotated[
        str | None,
        typer.Argument(
            help=f'Project key (or name); "{NO_PROJECT}" for todos of sessions linked to no project; '
            "omit for every project."
        ),
    ] = None,
    show_all: Annotated[bool, typer.Option("--all", help="Include completed todos.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Open todos per project, merged from every AI session (completed > in_progress > pending);
    with CHITTY_SYNC_URL set, the hub's."""
    from chitty_pipelines import config

    if config.env("CHITTY_SYNC_URL"):
        from chitty_pipelines.cli import remote

        remote.todos(project, show_all, as_json)
        return
    from chitty_pipelines.warehouse.from_settings import warehouse_from_settings

    wh = warehouse_from_settings()
    if not (wh.exists() and wh.table_exists("unified", "todos")):
        if _from_hub_store(project, show_all, as_json):
            return
        console.print("no todos yet: run `chitty-sync syncall` (or `projectsync`) first")
        raise typer.Exit(1)
    if project is not None and project != NO_PROJECT and _from_hub_store(project, show_all, as_json, wh):
        return
    if project is None:
        _print_projects(wh, as_json)
        return
    if project == NO_PROJECT:
        key, match, params = None, "project_key IS NULL", []
        found = wh.query("SELECT count(*) AS n FROM unified.project_todos WHERE project_key IS NULL")
        keys = [None] if int(found["n"].iloc[0]) else []
    else:
        keys = wh.query(
            "SELECT DISTINCT t.project_key FROM unified.project_todos t WHERE t.project_key = ? "
            "OR lower(t.project_name) = lower(?)",
            [project, project],
        )["project_key"].tolist()
        key, match, params = (keys[0] if keys else None), "project_key = ?", keys[:1]
    if not keys:
        # A project this warehouse knows that has no todos at all is answered like one whose
        # todos are all done (nothing open, exit 0); only a name it does not know is an error.
        known = _known_project(wh, project) if project != NO_PROJECT else None
        if known is None:
            console.print(
                f"unknown project {project!r}: no project key or name in unified.projects "
                "(`chitty-sync todos` lists the projects with todos)",
                markup=False,
                highlight=False,
            )
            raise typer.Exit(1)
        if as_json:
            body = {"projectId": known, "todos": [], "lastSync": None, "sessions": [], "totalUpdates": 0}
            out.print_json(json.dumps(body))
        else:
            out.print(f"nothing open on {known} (no todos recorded)", markup=False, highlight=False)
        return
    where = "" if show_all else " AND is_open"
    df = wh.query(
        f"SELECT * FROM unified.todos WHERE {match}{where} ORDER BY {_ORDER}, added_at, content", params
    )
    summary = wh.query(f"SELECT * FROM unified.project_todos WHERE {match}", params).iloc[0]
    title = key if key is not None else NO_PROJECT
    if as_json:
        body = {
            "projectId": key,
            "todos": [
                {
                    "content": r.content,
                    "status": r.status,
                    "activeForm": _none(r.active_form),
                    "addedBy": r.added_by,
                    "addedAt": _iso(r.added_at),
                    "updatedBy": _none(r.updated_by),
                    "updatedAt": _iso(r.updated_at),
                }
                for r in df.itertuples(index=False)
            ],
            "lastSync": _iso(summary.last_sync),
            "sessions": list(summary.sessions),
            "totalUpdates": int(summary.total_updates),
        }
        out.print_json(json.dumps(body))
        return
    table = Table(title=f"todos of {title} ({int(summary.open_count)} open of {int(summary.todo_count)})")
    for column in ("status", "content", "added by", "added at", "updated by", "updated at"):
        table.add_column(column)
    for r in df.itertuples(index=False):
        # escape: a todo's text is data, not rich markup ("fix list[int]" must not lose "[int]")
        table.add_row(
            r.status, escape(r.content), escape(r.added_by), _iso(r.added_at) or "-",
            escape(_none(r.updated_by) or "-"), _iso(r.updated_at) or "-",
        )  # fmt: skip
    if len(df):
        print_table(table)
    else:
        out.print(f"nothing open on {title}")


def _from_hub_store(project: str | None, show_all: bool, as_json: bool, wh: Any = None) -> bool:
    """On a hub, todo lists posted to ``chitty-sync serve`` (or by ``sessionsync``) live in the
    hub store and reach unified.todos only at the next sync: without this, the hub's own CLI said
    "no todos yet" while its API answered them. Answers from the hub store (the API's merge, the
    same rules) when the warehouse has no unified.todos yet, or when ``project`` has lists there
    but no rows in unified.todos; False when the hub store has nothing to add either."""
    from chitty_pipelines.api import views
    from chitty_pipelines.cli import remote
    from chitty_pipelines.warehouse.opstore_location import default_store

    if wh is not None:
        listed = wh.query("SELECT count(*) AS n FROM unified.todos WHERE project_key = ?", [project])
        if int(listed["n"].iloc[0]):
            return False
    store = default_store()
    rows = store.todo_rows(project)
    if not rows:
        return False
    if project is None:
        summaries = [t.model_dump() for t in views.todo_summaries(rows)]
        body: dict[str, Any] = {"projects": summaries, "total": len(summaries)}
    else:
        body = views.todo_project(project, rows).model_dump(exclude={"success"})
    console.print(
        "from the hub store (lists posted to the API or by sessionsync, not yet in unified.todos: "
        "`chitty-sync syncall` merges them with the AI tools' own files)",
        highlight=False,
    )
    remote.print_todos(body, project, show_all, as_json, f"hub store {store.path}")
    return True


def _known_project(wh: Any, project: str) -> str | None:
    """The key of the project of unified.projects named ``project`` (key or name), else None."""
    if not wh.table_exists("unified", "projects"):
        return None
    found = wh.query(
        "SELECT project_key FROM unified.projects WHERE project_key = ? OR lower(name) = lower(?) "
        "ORDER BY project_key = ? DESC, project_key LIMIT 1",
        [project, project, project],
    )["project_key"].tolist()
    return found[0] if found else None


def _print_projects(wh: Any, as_json: bool) -> None:
    df = wh.query("SELECT * FROM unified.project_todos ORDER BY open_count DESC, project_key NULLS LAST")
    if as_json:
        projects = [
            {
                "projectId": _none(r.project_key),
                "todoCount": int(r.todo_count),
                "lastSync": _iso(r.last_sync),
                "sessions": list(r.sessions),
                "pendingTodos": int(r.pending_todos),
                "inProgressTodos": int(r.in_progress_todos),
                "completedTodos": int(r.completed_todos),
            }
            for r in df.itertuples(index=False)
        ]
        out.print_json(json.dumps({"projects": projects, "total": len(projects)}))
        return
    table = Table(title="todos per project")
    for column in ("project", "open", "in progress", "pending", "completed", "sessions", "last sync"):
        table.add_column(column)
    for r in df.itertuples(index=False):
        table.add_row(
            _none(r.project_key) or NO_PROJECT, str(r.open_count), str(r.in_progress_todos),
            str(r.pending_todos), str(r.completed_todos), str(len(r.sessions)), _iso(r.last_sync) or "-",
        )  # fmt: skip
    if len(df):
        print_table(table)
    else:
        out.print("no todos")
