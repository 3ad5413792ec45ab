"""``chitty-sync projectsync`` and ``sessionsync``: registrations in the operational store.

The original client's names (contracts §1.5), with honest results: a command that did not do what
was asked exits non-zero and says why; stdout carries only what a script wants to capture (the
session id), everything else goes to stderr.
"""

from __future__ import annotations

import json
import re
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from chitty_pipelines import config
from chitty_pipelines.chittyos.sync_client import SyncClient, SyncServiceError, remote_url
from chitty_pipelines.cli.app import console, out
from chitty_pipelines.cli.hub import LocalHub, RemoteHub, SyncTarget, open_hub
from chitty_pipelines.unified.resolution import normalize_path, slugify
from chitty_pipelines.warehouse.opstore import OpStore

PROJECTSYNC_JOB = "projectsync"
TODO_STATUSES = ("pending", "in_progress", "completed")


def _store() -> OpStore:
    from chitty_pipelines.warehouse.opstore_location import default_store

    return default_store()


def git_remote(path: Path) -> str | None:
    """``origin`` of the working directory (the same reading the unified projects use)."""
    from chitty_pipelines.unified.project_sources import git_remote_of  # loads the platforms: here only

    return git_remote_of(str(path))


def guess_platform() -> str:
    """Claude Code sets CLAUDECODE in its shells; the original guessed openai from OPENAI_API_KEY."""
    if config.is_set("CLAUDECODE"):
        return "claude_code"
    if config.is_set("OPENAI_API_KEY"):
        return "openai"
    return "claude"


def _project_for(cwd: Path, store: OpStore) -> str:
    """The registered project whose path holds ``cwd`` (deepest wins), else the cwd's basename."""
    here = normalize_path(str(cwd)) or ""
    best = max(
        (
            p
            for p in store.projects()
            if p["path"] and (here == p["path"] or here.startswith(p["path"] + "/"))
        ),
        key=lambda p: len(p["path"]),
        default=None,
    )
    return best["project_key"] if best else slugify(cwd.name)


def projectsync(
    path: Annotated[Path | None, typer.Argument(help="Project folder (default: current directory).")] = None,
    key: Annotated[
        str | None, typer.Option(help="Project key (default: the folder name, slugified).")
    ] = None,
    name: Annotated[str | None, typer.Option(help="Display name (default: the folder name).")] = None,
    sync: Annotated[bool, typer.Option("--sync/--no-sync", help="Run the local and unified assets.")] = True,
) -> None:
    """Register the project at PATH (with its git remote), then sync what concerns it."""
    folder = (path or Path.cwd()).expanduser().resolve()
    if not folder.is_dir():
        console.print(f"[red]not a directory:[/red] {folder}")
        raise typer.Exit(2)
    project_key = key or slugify(folder.name)
    remote = git_remote(folder)
    if remote_url():
        # A client of the hub (contracts section 1.5: POST /api/project); the hub's sensor builds
        # its unified tables, so there is nothing to run here.
        with _remote_errors():
            hub = RemoteHub(SyncClient.from_env())  # type: ignore[arg-type]
            try:
                result = hub.register_project(project_key, name or folder.name, str(folder), remote)
            finally:
                hub.close()
        verb = "registered" if result.created else "updated"
        console.print(f"project {project_key} {verb} on {hub.where}: {folder}", markup=False)
        return
    outcome = _store().register_project(project_key, name or folder.name, str(folder), remote)
    verb = outcome.message  # registered, updated, or restored (after `project remove`)
    console.print(f"project {project_key} {verb}: {folder}" + (f" (origin {remote})" if remote else ""))
    if not sync:
        return
    from chitty_pipelines.cli.app import print_event
    from chitty_pipelines.cli.runner import execute_with_progress, open_instance
    from chitty_pipelines.definitions import defs

    with open_instance() as instance:
        result = execute_with_progress(defs.resolve_job_def(PROJECTSYNC_JOB), instance, on_event=print_event)
    if not result.success:
        console.print(f"[bold red]projectsync failed[/bold red]: run {result.run_id}")
        raise typer.Exit(1)
    from chitty_pipelines.warehouse.from_settings import warehouse_from_settings

    wh = warehouse_from_settings()
    row = wh.query(
        "SELECT project_key, chitty_id, id_source, alias_count, platforms FROM unified.projects "
        "WHERE project_key = ?",
        [project_key],
    )
    if row.empty:
        console.print(f"[bold red]project {project_key} is missing from unified.projects[/bold red]")
        raise typer.Exit(1)
    r = row.iloc[0]
    console.print(
        f"project {project_key}: id {r['chitty_id']} ({r['id_source']}), {r['alias_count']} source records "
        f"on {', '.join(r['platforms'])}"
    )


def sessionsync(
    heartbeat: Annotated[
        str | None, typer.Option("--heartbeat", help="Record a heartbeat of session ID.")
    ] = None,
    end: Annotated[str | None, typer.Option("--end", help="End session ID.")] = None,
    platform: Annotated[
        str | None,
        typer.Option(
            help="AI platform, e.g. claude_desktop, openai, gemini (default: guessed from the environment)."
        ),
    ] = None,
    project: Annotated[
        str | None, typer.Option(help="Project key (default: from the current directory).")
    ] = None,
    session_id: Annotated[
        str | None, typer.Option("--id", help="Session id to register (default: new UUID).")
    ] = None,
    todos_file: Annotated[
        Path | None,
        typer.Option(
            "--todos",
            help="Also sync this session's todo list: a JSON file ('-' for stdin) of "
            "[{content, status, activeForm}] (TodoWrite's shape) or {todos: [...]}.",
        ),
    ] = None,
) -> None:
    """Register a session for this machine and AI platform (prints its id), or --heartbeat / --end
    one; with CHITTY_SYNC_URL set, on that hub instead of this machine's store."""
    if heartbeat and end:
        console.print("[red]--heartbeat and --end are exclusive[/red]")
        raise typer.Exit(2)
    todos = _read_todos(todos_file) if todos_file else None
    with _remote_errors():
        hub = open_hub()
        try:
            _sessionsync(hub, heartbeat, end, platform, project, session_id, todos)
        finally:
            hub.close()


def _sessionsync(
    hub: SyncTarget,
    heartbeat: str | None,
    end: str | None,
    platform: str | None,
    project: str | None,
    session_id: str | None,
    todos: list[dict[str, Any]] | None,
) -> None:
    if heartbeat or end:
        target = heartbeat or end or ""
        outcome = hub.heartbeat(target) if heartbeat else hub.end_session(target)
        console.print(
            f"session {target}: {outcome.message}", style=None if outcome.ok else "red", markup=False
        )
        if not outcome.ok:
            raise typer.Exit(1)
        return
    cwd = Path.cwd()
    sid = session_id or str(uuid.uuid4())
    if project is None:
        project = _project_for(cwd, _store()) if isinstance(hub, LocalHub) else slugify(cwd.name)
    ai_platform = re.sub(r"[^a-z0-9]+", "_", platform.lower()).strip("_") if platform else guess_platform()
    outcome = hub.register_session(sid, project, ai_platform, socket.gethostname(), {"pwd": str(cwd)})
    record = outcome.data
    verb = "registered" if outcome.created else (outcome.message or "already registered")
    console.print(
        f"session {sid} {verb}: platform {record.get('ai_platform')}, "
        f"project {record.get('project_key')}" + ("" if isinstance(hub, LocalHub) else f" ({hub.where})"),
        markup=False,
    )
    if todos is not None:
        synced = hub.sync_todos(project, sid, todos, ai_platform)
        d = synced.data
        console.print(
            f"todos of {project}: {d.get('totalTodos')} after merge ({d.get('added')} added, "
            f"{d.get('updated')} updated)",
            markup=False,
        )
    out.print(sid, markup=False, highlight=False)


project_app = typer.Typer(help="Registered projects: list, remove (soft delete).", no_args_is_help=True)


@project_app.command("list")
def project_list(
    include_removed: Annotated[bool, typer.Option("--all", help="Removed projects too.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Registered projects (projectsync), one per line: key, name, path, git remote."""
    rows = _store().projects(include_removed=include_removed)
    if as_json:
        out.print_json(json.dumps(rows))
        return
    for r in rows:
        removed = f"\tremoved {r['removed_at']}" if r.get("removed_at") else ""
        # tab-separated whole lines (scripts cut them); out.file masks a credential in a remote URL
        out.file.write(
            f"{r['project_key']}\t{r['name']}\t{r['path'] or '-'}\t{r['git_remote'] or '-'}{removed}\n"
        )
    console.print(f"{len(rows)} registered project{'s' if len(rows) != 1 else ''}", markup=False)


@project_app.command("remove")
def project_remove(
    name: Annotated[str, typer.Argument(help="Project key (as `project list` shows).")],
) -> None:
    """Remove a registered project (soft delete: the row keeps removed_at; `projectsync` restores it).
    It leaves `project list` and, at the next sync, the unified tables."""
    outcome = _store().remove_project(name)
    if not outcome.ok:
        console.print(f"project {name}: {outcome.message}; see `chitty-sync project list`", markup=False)
        console.print("project remove failed", style="bold red")
        raise typer.Exit(1)
    console.print(
        f"project {name} {outcome.message}; unified tables drop it at the next "
        "`chitty-sync syncall` (re-add with `chitty-sync projectsync`)",
        markup=False,
    )


def _read_todos(path: Path) -> list[dict[str, Any]]:
    import json
    import sys

    # Say which of the three went wrong: no such file, a file that cannot be read, or not JSON.
    problem = ""
    try:
        text = sys.stdin.read() if str(path) == "-" else path.read_text(encoding="utf-8")
        data = json.loads(text)
    except FileNotFoundError:
        problem = "no such file"
    except UnicodeDecodeError:
        problem = "cannot be read: not UTF-8 text"
    except OSError as exc:
        problem = f"cannot be read ({exc.strerror or type(exc).__name__})"
    except json.JSONDecodeError as exc:
        problem = f"not valid JSON ({exc.msg}, line {exc.lineno} column {exc.colno})"
    if problem:
        console.print(f"--todos {path}: {problem}", style="red", markup=False, highlight=False)
        raise typer.Exit(2)
    items = data.get("todos") if isinstance(data, dict) else data
    ok = isinstance(items, list) and all(
        isinstance(t, dict) and isinstance(t.get("content"), str) and t.get("status") in TODO_STATUSES
        for t in items
    )
    if not ok:
        console.print(
            f"[red]--todos {path}: expected a list of {{content, status}} with status one of "
            f"{', '.join(TODO_STATUSES)}[/red]"
        )
        raise typer.Exit(2)
    return [{k: t[k] for k in ("content", "status", "activeForm") if t.get(k) is not None} for t in items]


@contextmanager
def _remote_errors() -> Iterator[None]:
    """A failed call to the hub: its message (naming the variable to fix) and exit 1, no trace."""
    try:
        yield
    except SyncServiceError as exc:
        console.print(f"[bold red]error:[/bold red] {exc}", highlight=False)
        raise typer.Exit(1) from None


def register(app: typer.Typer) -> None:
    """Add the commands to ``chitty-sync`` (called once from cli.py)."""
    app.command()(projectsync)
    app.command()(sessionsync)
    app.add_typer(project_app, name="project")
