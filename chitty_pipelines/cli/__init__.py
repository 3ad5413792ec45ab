"""``chitty-sync``: the command-line surface of chitty-pipelines.

Every command that syncs goes through Dagster (so runs, materializations and checks are recorded
exactly as when launched from the UI); nothing here touches a platform directly.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from chitty_pipelines import config

app = typer.Typer(
    name="chitty-sync",
    help="Sync ChittyOS platforms and AI sessions into the warehouse, through Dagster.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console(stderr=True)
out = Console()

_STYLES = {
    "start": ("·", "dim"),
    "asset": ("✓", "green"),
    "check": ("✓", "dim green"),
    "check_failed": ("!", "yellow"),
    "failure": ("✗", "bold red"),
    "log": (" ", "dim"),
}


def _print_event(kind: str, text: str) -> None:
    mark, style = _STYLES.get(kind, (" ", ""))
    console.print(f"{mark} {text}", style=style, markup=False, highlight=False)


def _warehouse():
    from chitty_pipelines.warehouse.resource import WarehouseResource

    return WarehouseResource.from_settings().get()


@app.command()
def syncall(
    full_refresh: Annotated[
        bool,
        typer.Option(
            "--full-refresh", help="Ignore cursors and re-read everything (upserts, no duplicates)."
        ),
    ] = False,
) -> None:
    """Materialize every asset: all platforms, then the unified tables."""
    from chitty_pipelines.cli.runner import execute_with_progress, open_instance
    from chitty_pipelines.definitions import defs

    tags = {"chitty/full_refresh": "true"} if full_refresh else {}
    ok = True
    with open_instance() as instance:
        # The syncall job alone: every stream (the Neon event store too) is incremental there and
        # lands its whole history on the first run. Partitioned jobs are for `backfill` ranges.
        jobs: list[tuple[str, str | None]] = [("syncall", None)]
        for name, partition in jobs:
            job = defs.resolve_job_def(name)
            partition_key = None
            if partition == "latest":
                partitions = job.partitions_def
                partition_key = partitions.get_last_partition_key() if partitions else None
                if partition_key is None:
                    continue
            console.print(
                f"[bold]{name}[/bold]" + (f" partition {partition_key}" if partition_key else ""),
                highlight=False,
            )
            outcome = execute_with_progress(
                job, instance, on_event=_print_event, tags=tags, partition_key=partition_key
            )
            where = "recorded in $DAGSTER_HOME" if config.is_set("DAGSTER_HOME") else "ephemeral instance"
            verdict = "[green]succeeded[/green]" if outcome.success else "[bold red]failed[/bold red]"
            count = len(outcome.materialized)
            console.print(f"{name} {verdict}: {count} assets materialized, run {outcome.run_id} ({where})")
            ok = ok and outcome.success
    if not ok:
        raise typer.Exit(1)


@app.command()
def backfill(
    start: Annotated[str, typer.Option("--from", help="First day, YYYY-MM-DD.")],
    end: Annotated[str, typer.Option("--to", help="Last day, YYYY-MM-DD (inclusive).")],
    job_name: Annotated[
        str | None, typer.Option("--job", help="One partitioned job; default: all of them.")
    ] = None,
) -> None:
    """Re-sync a date range of the daily-partitioned streams (the Neon event store) in one run per job."""
    from chitty_pipelines.cli.runner import execute_with_progress, open_instance
    from chitty_pipelines.definitions import defs
    from chitty_pipelines.ops.jobs import PARTITIONED_JOBS

    names = [job_name] if job_name else PARTITIONED_JOBS
    unknown = [n for n in names if n not in PARTITIONED_JOBS]
    if unknown:
        console.print(f"[red]unknown partitioned job {unknown[0]!r}; choose from {PARTITIONED_JOBS}[/red]")
        raise typer.Exit(2)
    ok = True
    with open_instance() as instance:
        for name in names:
            job = defs.resolve_job_def(name)
            keys = job.partitions_def.get_partition_keys() if job.partitions_def else []
            for day in (start, end):
                if day not in keys:
                    console.print(
                        f"[red]{day} is not a partition of {name} (first: {keys[0] if keys else '-'})[/red]"
                    )
                    raise typer.Exit(2)
            console.print(f"[bold]{name}[/bold] {start} … {end}", highlight=False)
            # Range tags make one run cover the whole window (the assets' single-run backfill policy).
            tags = {"dagster/asset_partition_range_start": start, "dagster/asset_partition_range_end": end}
            outcome = execute_with_progress(job, instance, on_event=_print_event, tags=tags)
            ok = ok and outcome.success
    if not ok:
        raise typer.Exit(1)


@app.command()
def status(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    health: Annotated[bool, typer.Option(help="Probe each configured platform (network calls).")] = True,
) -> None:
    """Per platform: configured or not, health, last sync, rows, rejects (--json: rows per table)."""
    from chitty_pipelines.ops.status import platform_statuses

    statuses = platform_statuses(_warehouse(), with_health=health)
    if as_json:
        out.print_json(json.dumps([s.to_json() for s in statuses]))
        return
    table = Table(title=f"chitty-pipelines status ({config.load_settings().warehouse_path})")
    for column in ("platform", "configured", "health", "last sync", "rows", "rejects"):
        table.add_column(column)
    for s in statuses:
        total = sum(s.tables.values())
        rows = f"{total:,} in {len(s.tables)} tables" if s.tables else "-"
        last = f"{s.last_sync} ({s.last_status})" if s.last_sync else "never"
        health_text = "-"
        if s.health is not None:
            reason = s.health.get("reason")
            health_text = ("ok" if s.health.get("ok") else "FAIL") + (f": {reason}" if reason else "")
        table.add_row(s.platform, "yes" if s.configured else "no", health_text, last, rows, str(s.rejects))
    out.print(table)
    from chitty_pipelines.unified.summary import unified_counts

    u = unified_counts(_warehouse())
    out.print(
        f"unified: {u['projects']} projects, {u['sessions']} sessions ({u['active']} active, "
        f"{u['stale']} stale, {u['ended']} ended), {u['topics']} topics"
    )
    from chitty_pipelines.cli.ops import print_services_status  # core services: health and registration

    print_services_status(out, _warehouse(), probe=health)


@app.command("env")
def env_table() -> None:
    """Print every environment variable chitty-pipelines reads (markdown table)."""
    out.print(config.env_table_markdown(), markup=False, highlight=False)


@app.command()
def ui(
    port: Annotated[int, typer.Option(help="Port for the Dagster UI.")] = 3000,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
) -> None:
    """Open the Dagster UI on this code location (``dagster dev``), with runs kept in DAGSTER_HOME
    (default $CHITTY_HOME/dagster)."""
    settings = config.load_settings()
    home = settings.dagster_home or settings.chitty_home / "dagster"
    home.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    console.print(f"Dagster UI on http://{host}:{port} (DAGSTER_HOME={home})")
    cmd = [
        sys.executable,
        "-m",
        "dagster",
        "dev",
        "-m",
        "chitty_pipelines.definitions",
        "-h",
        host,
        "-p",
        str(port),
    ]
    raise typer.Exit(subprocess.call(cmd, env=env))


def main() -> None:
    import warnings

    import dagster as dg

    # Single-run backfill policies are "beta" in Dagster 1.13 and say so on every start; the
    # notice is for developers of the code location, not for someone running a sync.
    warnings.filterwarnings("ignore", category=dg.BetaWarning)
    app()


# Commands that live with their feature, registered here so `chitty-sync --help` lists them all.
# (Registered by call rather than by importing `app` from those modules: under
# `python -m chitty_pipelines.cli` this module runs as __main__, a second copy of `app`.)
from chitty_pipelines.cli.demo import register as _register_demo  # noqa: E402  (demo)
from chitty_pipelines.cli.ops import register_commands as _register_ops  # noqa: E402  (check, register, services)
from chitty_pipelines.cli.registry import register as _register_registry  # noqa: E402  (projectsync, sessionsync)
from chitty_pipelines.cli.topics import register as _register_topics  # noqa: E402  (topicsync)

for _register in (_register_registry, _register_topics, _register_ops, _register_demo):
    _register(app)

if __name__ == "__main__":
    main()
