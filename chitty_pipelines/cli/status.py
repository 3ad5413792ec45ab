"""``status`` and ``env``: what is configured, synced and healthy; which variables are read."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from chitty_pipelines import config
from chitty_pipelines.cli.app import app, out, warehouse


@app.command()
def status(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    health: Annotated[bool, typer.Option(help="Probe each configured platform (network calls).")] = True,
) -> None:
    """Per platform: configured or not, health, last sync, rows, rejects (--json: rows per table).
    With CHITTY_SYNC_URL set: the hub's status, platform probes and latest sessions."""
    if config.env("CHITTY_SYNC_URL"):
        from chitty_pipelines.cli import remote

        remote.status(as_json, health)
        return
    from chitty_pipelines.ops.status import platform_statuses

    statuses = platform_statuses(warehouse(), with_health=health)
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

    u = unified_counts(warehouse())
    out.print(
        f"unified: {u['projects']} projects, {u['sessions']} sessions ({u['active']} active, "
        f"{u['stale']} stale, {u['ended']} ended), {u['topics']} topics"
    )
    _print_latest_runs()
    from chitty_pipelines.cli.ops import print_services_status  # core services: health and registration

    print_services_status(out, warehouse(), probe=health)


@app.command("env")
def env_table() -> None:
    """Print every environment variable chitty-pipelines reads (markdown table)."""
    out.print(config.env_table_markdown(), markup=False, highlight=False)


def _print_latest_runs() -> None:
    """The latest run of each job; opening the instance also marks failed any run whose CLI
    process was killed (runner.reap_abandoned_runs), so such a run shows FAILURE here."""
    import dagster as dg

    from chitty_pipelines.cli.runner import open_instance

    with open_instance() as instance:
        latest: dict[str, dg.RunRecord] = {}
        for record in instance.get_run_records(limit=50):
            latest.setdefault(record.dagster_run.job_name, record)
    if not latest:
        out.print("runs: none recorded yet")
        return
    for job, record in sorted(latest.items()):
        when = record.create_timestamp.isoformat(timespec="seconds")
        out.print(f"run {job}: {record.dagster_run.status.value} ({when}, {record.dagster_run.run_id[:8]})")
