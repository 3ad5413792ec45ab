"""``chitty-sync topicsync``: (re)categorise the unified sessions into topics, through Dagster
(runs unified/session_topics and unified/topics with their checks, recorded like any run)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from chitty_pipelines import config
from chitty_pipelines.cli.app import console, out
from chitty_pipelines.kernel.assets import FULL_REFRESH_TAG

TOPICSYNC_JOB = "topicsync"


def register(app: typer.Typer) -> None:
    """Add ``topicsync`` to the ``chitty-sync`` app (cli.py calls this; registering on the app
    object passed in also works when cli.py runs as ``python -m chitty_pipelines.cli``)."""
    app.command()(topicsync)


def topicsync(
    full_refresh: Annotated[
        bool,
        typer.Option(
            "--full-refresh", help="Re-classify every session, not only those whose summary changed."
        ),
    ] = False,
) -> None:
    """Categorise sessions into the topic taxonomy (CHITTY_TOPIC_CLASSIFIER, CHITTY_TOPIC_TAXONOMY)."""
    from chitty_pipelines.cli.app import print_event
    from chitty_pipelines.cli.runner import execute_with_progress, open_instance
    from chitty_pipelines.definitions import defs

    tags = {FULL_REFRESH_TAG: "true"} if full_refresh else {}
    with open_instance() as instance:
        outcome = execute_with_progress(
            defs.resolve_job_def(TOPICSYNC_JOB), instance, on_event=print_event, tags=tags
        )
    where = f"recorded in {config.load_settings().dagster_home}"
    verdict = "[green]succeeded[/green]" if outcome.success else "[bold red]failed[/bold red]"
    console.print(f"topicsync {verdict}: run {outcome.run_id} ({where})")
    if not outcome.success:
        raise typer.Exit(1)
    _print_topics()


def _print_topics() -> None:
    from chitty_pipelines.warehouse.resource import WarehouseResource

    wh = WarehouseResource.from_settings().get()
    if not wh.table_exists("unified", "topics"):
        return
    df = wh.query(
        "SELECT topic_id, name, session_count, primary_session_count, avg_confidence FROM unified.topics "
        "WHERE level = 'category' AND session_count > 0 ORDER BY session_count DESC, topic_id"
    )
    table = Table(title="topics")
    for column in ("topic", "name", "sessions", "primary", "avg confidence"):
        table.add_column(column)
    for r in df.itertuples(index=False):
        table.add_row(
            r.topic_id, r.name, str(r.session_count), str(r.primary_session_count), f"{r.avg_confidence:.2f}"
        )
    out.print(table if len(df) else "no sessions categorised")
