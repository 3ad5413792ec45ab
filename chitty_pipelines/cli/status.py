"""``status`` and ``env``: what is configured, synced and healthy; which variables are read."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.table import Table

from chitty_pipelines import config
from chitty_pipelines.cli.app import app, console, out, print_table, warehouse


@app.command()
def status(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object (schema in the README).")] = False,
    health: Annotated[bool, typer.Option(help="Probe each configured platform (network calls).")] = True,
) -> None:
    """Platforms (configured, health, last sync, rows, rejects), unified tables, core services,
    the latest run of each job, warnings (--json: one object, schema in the README). With
    CHITTY_SYNC_URL set: the hub's status, platform probes and latest sessions instead."""
    if config.env("CHITTY_SYNC_URL"):
        from chitty_pipelines.cli import remote

        remote.status(as_json, health)
        return
    from chitty_pipelines.cli.ops import services_status
    from chitty_pipelines.ops.status import platform_statuses, status_warnings, unified_tables
    from chitty_pipelines.unified.summary import unified_counts

    wh = warehouse()
    statuses = platform_statuses(wh, with_health=health)
    if as_json:
        doc = {
            "warehouse": {
                # PostgreSQL: host:port/database as the path (never a user or password)
                "path": str(wh.path) if wh.kind == "duckdb" else wh.location,
                "exists": wh.exists(),
                "size_bytes": _size_bytes(wh),
                "backend": wh.kind,
                "location": warehouse_line(wh),
            },
            "platforms": [s.to_json() for s in statuses],
            "unified": {"counts": unified_counts(wh), "tables": unified_tables(wh)},
            "services": services_status(wh, probe=health),
            "runs": _latest_runs(),
            "warnings": status_warnings(wh),
        }
        out.print_json(json.dumps(doc, default=str))
        return
    wh = warehouse()
    table = Table(title=f"chitty-pipelines status ({warehouse_line(wh)})")
    for column in ("platform", "configured", "health", "last sync", "rows", "rejects"):
        table.add_column(column)
    for s in statuses:
        total = sum(s.tables.values())
        rows = f"{total:,} in {len(s.tables)} tables" if s.tables else "-"
        last = f"{s.last_sync} ({s.last_status})" if s.last_sync else "never"
        health_text = "-"
        if s.health is not None:
            reason = s.health.get("reason")
            ok = s.health.get("ok")
            # ok None: the probe had nothing to check (e.g. a named folder that is missing: the
            # sync warns about it), a skip rather than a failure, as `check` counts it.
            verdict = (
                "offline" if s.health.get("offline") else "SKIP" if ok is None else "ok" if ok else "FAIL"
            )
            health_text = verdict + (f": {reason}" if reason and verdict != "offline" else "")
        table.add_row(s.platform, "yes" if s.configured else "no", health_text, last, rows, str(s.rejects))
    print_table(table)
    u = unified_counts(wh)
    out.print(
        f"unified: {u['projects']} projects, {u['sessions']} sessions ({u['active']} active, "
        f"{u['stale']} stale, {u['ended']} ended), {u['topic_categories']} topic categories "
        f"({u['topics']} topics incl. subcategories)"
    )
    hub_line = _hub_line()
    if hub_line:
        out.print(hub_line, markup=False, highlight=False)
    runs = _latest_runs()
    if not runs:
        out.print("runs: none recorded yet")
    for r in runs:
        out.print(f"run {r['job']}: {r['status']} ({r['created_at']}, {r['run_id'][:8]})")
    from chitty_pipelines.cli.ops import print_services_status  # core services: health and registration

    print_services_status(out, wh, probe=health)
    for w in status_warnings(wh):
        out.print(f"warning: {w['source']}: {w['message']}", markup=False, highlight=False)


def _hub_line() -> str | None:
    """What the hub store holds now (sessions, projects, todo lists and conversations registered
    through `chitty-sync serve` or `sessionsync`), counted as GET /api/status counts them. The
    unified line counts them only after a sync, so on a hub the two differ until then; without
    this line the hub's own `status` said 0 sessions while its API said 10. None when the store
    is empty or absent (a laptop that never registered anything: nothing created for it)."""
    from datetime import timedelta
    from pathlib import Path

    from chitty_pipelines.api.store import iso, session_ttl_s, utcnow
    from chitty_pipelines.warehouse.opstore_location import URL_VAR, default_path, default_store

    if not config.env(URL_VAR) and not Path(default_path()).exists():
        return None
    store = default_store()
    total, active = store.session_counts(iso(utcnow() - timedelta(seconds=session_ttl_s())) or "")
    projects = len(store.projects())
    rows = store.todo_rows()
    lists = len({r["list_id"] for r in rows})
    conversations = len(store.conversations())
    if not (total or projects or lists or conversations):
        return None
    return (
        f"hub store: {projects} projects, {total} sessions ({active} active), {lists} todo lists "
        f"({len({r['project_key'] for r in rows})} projects), {conversations} filed conversations "
        "(what the sync API answers now; the unified line counts them as of the last sync)"
    )


@app.command("env")
def env_table() -> None:
    """Print every environment variable chitty-pipelines reads (markdown table); the warehouse in
    use goes to stderr first (stdout stays the table alone)."""
    console.print(f"warehouse: {warehouse_line(warehouse())}", markup=False, highlight=False)
    out.print(config.env_table_markdown(), markup=False, highlight=False)


def _size_bytes(wh: Any) -> int | None:
    """The DuckDB file's size, or the PostgreSQL database's (pg_database_size)."""
    if wh.kind == "postgres":
        return int(wh.scalar("SELECT pg_database_size(current_database())"))
    return wh.path.stat().st_size if wh.path.exists() else None


def warehouse_line(wh: object) -> str:
    """``DuckDB <file>`` or ``PostgreSQL <host:port/db> (CHITTY_WAREHOUSE_URL)``: never a user or
    password (Warehouse.location is built from the host, port and database only)."""
    kind, location = getattr(wh, "kind", "duckdb"), getattr(wh, "location", "")
    if kind == "postgres":
        return config.scrub(f"PostgreSQL {location} (CHITTY_WAREHOUSE_URL)")
    return config.scrub(f"DuckDB {location}")


def _latest_runs() -> list[dict[str, str]]:
    """The latest run of each job; opening the instance also marks failed any run whose CLI
    process was killed (runner.reap_abandoned_runs), so such a run shows FAILURE here."""
    import dagster as dg

    from chitty_pipelines.cli.runner import open_instance
    from chitty_pipelines.ops.jobs import run_label

    with open_instance() as instance:
        latest: dict[str, dg.RunRecord] = {}
        for record in instance.get_run_records(limit=50):
            latest.setdefault(run_label(record.dagster_run), record)
    return [
        {
            "job": job,
            "status": record.dagster_run.status.value,
            "run_id": record.dagster_run.run_id,
            "created_at": record.create_timestamp.isoformat(timespec="seconds"),
        }
        for job, record in sorted(latest.items())
    ]
