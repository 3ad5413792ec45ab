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
from pathlib import Path
from typing import Annotated

import typer

from chitty_pipelines import config
from chitty_pipelines.cli.app import console, out
from chitty_pipelines.unified.project_sources import git_remote_of
from chitty_pipelines.unified.resolution import normalize_path, slugify
from chitty_pipelines.warehouse.opstore import OpStore
from chitty_pipelines.warehouse.opstore_pg import PgOpStore
from chitty_pipelines.warehouse.opstore_resource import default_store

PROJECTSYNC_JOB = "projectsync"


def _store() -> OpStore | PgOpStore:
    return default_store()


def git_remote(path: Path) -> str | None:
    """``origin`` of the working directory (the same reading the unified projects use)."""
    return git_remote_of(str(path))


def guess_platform() -> str:
    """Claude Code sets CLAUDECODE in its shells; the original guessed openai from OPENAI_API_KEY."""
    if config.is_set("CLAUDECODE"):
        return "claude_code"
    if config.is_set("OPENAI_API_KEY"):
        return "openai"
    return "claude"


def _project_for(cwd: Path, store: OpStore | PgOpStore) -> str:
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
    from chitty_pipelines.warehouse.resource import WarehouseResource

    wh = WarehouseResource.from_settings().get()
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
) -> None:
    """Register a session for this machine and AI platform (prints its id), or --heartbeat / --end one."""
    store = _store()
    if heartbeat and end:
        console.print("[red]--heartbeat and --end are exclusive[/red]")
        raise typer.Exit(2)
    if heartbeat or end:
        target = heartbeat or end or ""
        outcome = store.heartbeat(target) if heartbeat else store.end_session(target)
        console.print(
            f"session {target}: {outcome.message}", style=None if outcome.ok else "red", markup=False
        )
        if not outcome.ok:
            raise typer.Exit(1)
        return
    cwd = Path.cwd()
    sid = session_id or str(uuid.uuid4())
    outcome = store.register_session(
        sid,
        re.sub(r"[^a-z0-9]+", "_", platform.lower()).strip("_") if platform else guess_platform(),
        project or _project_for(cwd, store),
        socket.gethostname(),
        {"pwd": str(cwd)},
    )
    record = outcome.record or {}
    console.print(
        f"session {sid} {outcome.message}: platform {record.get('ai_platform')}, "
        f"project {record.get('project_key')}",
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


def register(app: typer.Typer) -> None:
    """Add the commands to ``chitty-sync`` (called once from cli.py)."""
    app.command()(projectsync)
    app.command()(sessionsync)
    app.add_typer(project_app, name="project")
