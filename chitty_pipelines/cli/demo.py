"""``chitty-sync demo``: see every part working without a single credential (chitty_pipelines/demo.py)."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table


def _serve_ui(console, home: Path, port: int) -> None:
    """``dagster dev`` on the demo home while the fakes stay up, in a process group of its own as
    ``chitty-sync ui`` runs it: Ctrl-C or SIGTERM stops dagster dev, its webserver and daemon
    (after a grace period, by force), and only then do the fakes go away, so no run or sensor tick
    is cut off mid-request and no child outlives the demo (SIGTERM left dagster dev running)."""
    import os

    from chitty_pipelines.cli.ui import dev_command, run_in_own_group

    console.print(f"Dagster UI on http://127.0.0.1:{port} (DAGSTER_HOME={home / 'dagster'}); Ctrl-C stops it")
    (home / "dagster").mkdir(parents=True, exist_ok=True)
    # The demo environment (fakes' URLs, tokens, CHITTY_OFFLINE) is in os.environ while it runs.
    rc = run_in_own_group(dev_command(home / "dagster", "127.0.0.1", port), dict(os.environ))
    ended = "" if rc == 0 else f"Dagster UI exited with code {rc}; "
    console.print(f"{ended}stopping the fakes")


def register(app: typer.Typer) -> None:
    app.command()(demo)


def demo(
    home: Annotated[
        Path | None,
        typer.Option(help="Demo CHITTY_HOME (wiped and rebuilt on each run); default $CHITTY_HOME/demo."),
    ] = None,
    ui: Annotated[
        bool, typer.Option("--ui", help="Afterwards keep the fakes running and open the Dagster UI on them.")
    ] = False,
    port: Annotated[int, typer.Option(help="Port of the UI with --ui.")] = 3000,
) -> None:
    """Start fakes of every platform and ChittyOS service, seeded with a synthetic organisation,
    run syncall into a demo CHITTY_HOME through Dagster, and print the status."""
    # Imported here: `cli` imports this module at its end, and the definitions must only be
    # imported once the demo environment is in place (resources read it when they are built).
    from chitty_pipelines.cli.app import console as app_console
    from chitty_pipelines.cli.app import print_table
    from chitty_pipelines.cli.status import status as status_command
    from chitty_pipelines.cli.sync import syncall as syncall_command
    from chitty_pipelines.demo import default_home, demo_environment, demo_stack, prepare_home

    console = app_console
    home = (home or default_home()).expanduser().resolve()
    try:
        prepare_home(home)
    except ValueError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    console.print(f"[bold]chitty-sync demo[/bold] in {home}: starting fakes and seeding 'Chitty Demo'…")
    ok = True
    with demo_stack(home) as stack, demo_environment(stack.env):
        table = Table(title="Demo services (all on 127.0.0.1)")
        table.add_column("platform / service")
        table.add_column("served by")
        for name, where in stack.endpoints.items():
            table.add_row(name, where)
        for name, why in stack.skipped.items():
            table.add_row(name, f"[yellow]skipped: {why}[/yellow]")
        print_table(table, console)
        try:
            syncall_command()
        except typer.Exit as exc:
            ok = exc.exit_code == 0
        # Register the 8 core services with the fake Register and confirm them in the fake
        # Registry (the job the projects sensor launches in production).
        from chitty_pipelines.cli import ops as cli_ops

        console.print("[bold]register_core_services[/bold]")
        try:
            cli_ops.run_registration(show_services=False)  # the status below shows them
        except typer.Exit as exc:
            ok = ok and exc.exit_code == 0
        status_command()
        # CHITTY_OFFLINE=1: the UI's sensors on the demo never probe a real host either.
        home_env = f"DAGSTER_HOME={shlex.quote(str(home / 'dagster'))} CHITTY_HOME={shlex.quote(str(home))}"
        env = f"CHITTY_OFFLINE=1 {home_env}"
        # The installed executable by its full path, so every printed command runs as printed
        # from any folder (``chitty-sync`` alone is not on PATH after the README's install).
        cli = shlex.quote(str(Path(sys.executable).parent / "chitty-sync"))
        query = shlex.quote("SELECT * FROM unified.projects LIMIT 10")
        console.print(
            "\n[bold]Open the Dagster UI on the result[/bold] (runs, materializations, checks, lineage):\n"
            f"  {env} {cli} ui\n"
            f"Query the warehouse (read-only):\n  CHITTY_HOME={shlex.quote(str(home))} {cli} sql {query}\n"
            f"Or run `{cli} demo --ui` to keep the fakes up and re-materialize from the UI.",
            highlight=False,
            soft_wrap=True,  # the command must stay copy-pasteable on narrow terminals
        )
        if ui:
            _serve_ui(console, home, port)
    if not ok:
        raise typer.Exit(1)
