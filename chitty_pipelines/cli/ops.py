"""``chitty-sync check``, ``register`` and ``services``: the core ChittyOS services from the
command line, and the services section of ``status``.

``check`` exits 1 when its score is below the threshold or anything configured FAILs, so it can
gate a deploy or a cron job;
``--json`` prints one JSON document on stdout and nothing else there.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from chitty_pipelines.cli.app import console, out, print_table

# The services' clients, the check and the warehouse are imported by the commands that use them:
# at module level they made every command, `--help` and the hooks included, import Dagster.
if TYPE_CHECKING:
    from chitty_pipelines.warehouse import Warehouse

_STYLE = {"PASS": "green", "WARN": "yellow", "FAIL": "bold red", "SKIP": "dim"}  # ops/check.py verdicts


def _warehouse() -> Warehouse:
    from chitty_pipelines.warehouse.from_settings import warehouse_from_settings

    return warehouse_from_settings()


def check(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    threshold: Annotated[
        int, typer.Option(min=0, max=100, help="Lowest passing score (percent of counted checks).")
    ] = 80,
) -> None:
    """ChittyCheck tests 11-14: platforms, core services, integration (mint, registry, sync
    status) and registration. Exit 1 below the threshold or on any FAIL."""
    from chitty_pipelines.chittyos.resource import ChittyServicesResource
    from chitty_pipelines.ops.check import FAIL, PASS, SKIP, WARN, run_check

    report = run_check(ChittyServicesResource.from_settings(), _warehouse(), threshold=threshold)
    if as_json:
        out.print_json(json.dumps(report.to_json()))
    else:
        # The name column fits the longest name ("registry list", a service named in
        # CHITTY_SERVICE_URLS), so the reasons stay aligned.
        width = max((len(line.name) for line in report.lines), default=12)
        for line in report.lines:
            latency = f" ({line.latency_ms:.0f} ms)" if line.latency_ms is not None else ""
            out.print(
                f"[{_STYLE[line.verdict]}]{line.verdict}[/] {line.test} {line.area:<13} "
                f"{line.name:<{width}} {_escape(line.reason)}{latency}",
                highlight=False,
                soft_wrap=True,  # one line per check, whatever the terminal width (grep-able)
            )
        for note in report.notes:
            console.print(f"note: {note}", style="dim", markup=False)
        c = report.counts
        verdict = "[green]passed[/green]" if report.passed else "[bold red]failed[/bold red]"
        if not (c[PASS] or c[WARN] or c[FAIL]):
            # A 100% out of nothing would read as health: say that nothing was checked.
            out.print(
                f"nothing to score: all {c[SKIP]} checks skipped (nothing configured); set a "
                "platform or service up (README: Configuration), then run check again",
                highlight=False,
                soft_wrap=True,
            )
            return
        out.print(
            f"score {report.score}% ({c[PASS]} PASS, {c[WARN]} WARN, {c[FAIL]} FAIL; {c[SKIP]} not "
            f"configured, not counted); threshold {report.threshold}%: {verdict}",
            highlight=False,
            soft_wrap=True,
        )
    if not report.passed:
        raise typer.Exit(1)


def _escape(text: str) -> str:
    return text.replace("[", "\\[")


def register() -> None:
    """Register the core services now (the register_core_services job, recorded like a UI run)."""
    run_registration(show_services=True)


def run_registration(*, show_services: bool) -> None:
    """The register command; the demo leaves out the services table (its status prints one)."""
    from chitty_pipelines.cli.app import print_event
    from chitty_pipelines.cli.runner import execute_with_progress, open_instance
    from chitty_pipelines.definitions import defs

    def show(kind: str, text: str) -> None:
        # Marks as syncall's: a failed asset check (!) must not read like a passed one (✓).
        print_event("start" if kind == "log" else kind, text)

    with open_instance() as instance:
        outcome = execute_with_progress(
            defs.resolve_job_def("register_core_services"), instance, on_event=show
        )
    rows = services_status(_warehouse(), probe=False)
    if show_services:
        _print_services(rows)
    failed = [r["name"] for r in rows if r["register"] not in _OK or r["registry"] not in _OK]
    if outcome.success and all(r["register"] == r["registry"] == "not_configured" for r in rows):
        # Nothing was attempted: not a failed registration (as `check` with nothing to score).
        console.print(
            "nothing to register with: Register and Registry are not configured; set "
            "CHITTY_REGISTER_URL or CHITTY_REGISTER_TOKEN and CHITTY_REGISTRY_URL or "
            "CHITTY_REGISTRY_TOKEN (README: Configuration), then run register again",
            markup=False,
        )
        return
    if not outcome.success or failed:
        console.print(f"[red]not registered everywhere: {', '.join(failed) or 'run failed'}[/red]")
        raise typer.Exit(1)


_OK = {"registered", "pending", "already_registered", "discoverable"}


def services(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    probe: Annotated[bool, typer.Option(help="Probe each /health now (else the last recorded).")] = True,
) -> None:
    """Core services: health and registration state."""
    rows = services_status(_warehouse(), probe=probe)
    if as_json:
        out.print_json(json.dumps(rows, default=str))
    else:
        _print_services(rows)


def services_status(warehouse: Warehouse, probe: bool = True) -> list[dict[str, Any]]:
    """Per core service: health (probed now, or the last observation) and the latest registration
    state with Register and Registry. What ``status`` shows below the platforms."""
    from chitty_pipelines.chittyos.resource import ChittyServicesResource
    from chitty_pipelines.ops.health import service_health
    from chitty_pipelines.ops.registration import latest_registrations

    resource = ChittyServicesResource.from_settings()
    latest = latest_registrations(warehouse) if warehouse.exists() else {}
    health: dict[str, dict[str, Any]] = {}
    if probe:
        now = datetime.now(UTC).isoformat(timespec="seconds")
        health = {h.name: {**h.to_json(), "checked_at": now} for h in service_health(resource)}
    elif warehouse.exists() and warehouse.table_exists("ops", "service_health"):
        with warehouse.connect() as con:  # plain Python values, not numpy ones, for --json
            found = con.execute(
                "SELECT name, healthy, reachable, latency_ms, reason, checked_at FROM ops.service_health "
                "WHERE kind = 'service' "
                "QUALIFY row_number() OVER (PARTITION BY name ORDER BY checked_at DESC) = 1"
            ).fetchall()
        keys = ("name", "healthy", "reachable", "latency_ms", "reason", "checked_at")
        health = {row[0]: dict(zip(keys, row, strict=True)) for row in found}
    rows = []
    for s in resource.services():
        h = health.get(s.name, {})
        reg, rgy = latest.get((s.name, "register")), latest.get((s.name, "registry"))
        skipped = resource.skip_reason(s)
        if skipped is not None:  # never contacted: no health, reachability or latency to show
            h = {**h, "healthy": None, "reachable": None, "latency_ms": None}
        rows.append(
            {
                "name": s.name,
                "url": s.url,
                # not_configured / offline: never contacted (no health, no registration check)
                "state": skipped.skipped if skipped is not None else "configured",
                "healthy": h.get("healthy"),
                "reachable": h.get("reachable"),
                "latency_ms": h.get("latency_ms"),
                "health_reason": h.get("reason"),
                "checked_at": _iso(h.get("checked_at")),
                "register": reg["status"] if reg else "never",
                "registry": rgy["status"] if rgy else "never",
                # the time of a registration: an attempt Register refused or never answered is none
                "registered_at": _iso(reg["attempted_at"]) if reg and reg["ok"] else None,
            }
        )
    return rows


def _iso(value: Any) -> str | None:
    """A time as ISO 8601 to the second, whether probed now (text) or read back (a datetime)."""
    if value is None:
        return None
    return value.isoformat(timespec="seconds") if isinstance(value, datetime) else str(value)


def _print_services(rows: list[dict[str, Any]], console_out: Console | None = None) -> None:
    table = Table(title="core ChittyOS services")
    for column in ("service", "health", "ms", "register", "registry"):
        table.add_column(column)
    for r in rows:
        if r["state"] != "configured":
            health = r["state"].replace("_", " ")  # not configured / offline: no FAIL for those
        elif r["healthy"] is None:
            health = "-"
        else:
            health = "ok" if r["healthy"] else f"FAIL: {r['health_reason']}"
        ms = f"{r['latency_ms']:.0f}" if isinstance(r["latency_ms"], (int, float)) else "-"
        table.add_row(r["name"], health, ms, r["register"], r["registry"])
    print_table(table, console_out)


def print_services_status(console_out: Console, warehouse: Warehouse, probe: bool = True) -> None:
    """The services section of ``chitty-sync status`` (text)."""
    _print_services(services_status(warehouse, probe=probe), console_out)


def register_commands(app: typer.Typer) -> None:
    app.command("check")(check)
    app.command("register")(register)
    app.command("services")(services)
