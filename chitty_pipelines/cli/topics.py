"""``chitty-sync topicsync``: (re)categorise the unified sessions into topics, through Dagster
(runs unified/session_topics and unified/topics with their checks, recorded like any run).
``chitty-sync topic set SESSION_KEY TOPIC`` / ``topic unset SESSION_KEY``: manual labels
(topics/labels.py), written straight to the warehouse."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from chitty_pipelines import config
from chitty_pipelines.cli.app import console, out, print_table

TOPICSYNC_JOB = "topicsync"


def register(app: typer.Typer) -> None:
    """Add ``topicsync`` to the ``chitty-sync`` app (cli.py calls this; registering on the app
    object passed in also works when cli.py runs as ``python -m chitty_pipelines.cli``)."""
    app.command()(topicsync)
    app.command("topics")(topics_list)
    topic = typer.Typer(help="Manual topic labels: they win for their session and teach the classifier.")
    topic.command("set")(topic_set)
    topic.command("unset")(topic_unset)
    app.add_typer(topic, name="topic")


def _labels_context():
    from chitty_pipelines.unified.topic_classifier import TopicClassifierResource
    from chitty_pipelines.warehouse.from_settings import warehouse_from_settings

    return warehouse_from_settings(), TopicClassifierResource.from_settings().taxonomy()


def topic_set(
    session_key: Annotated[str, typer.Argument(help="unified.sessions.session_key")],
    topic: Annotated[str, typer.Argument(help="a topic id of the taxonomy (CHITTY_TOPIC_TAXONOMY)")],
) -> None:
    """Categorise a session by hand. It keeps this topic across re-syncs and --full-refresh, and
    the default classifier learns from it at the next topicsync."""
    from chitty_pipelines.unified.topic_labels import LabelError, set_label

    wh, taxonomy = _labels_context()
    try:
        label = set_label(wh, taxonomy, session_key, topic)
    except LabelError as exc:
        console.print(f"[bold red]error:[/bold red] {escape_text(str(exc))}")
        raise typer.Exit(2) from None
    category = taxonomy.category_of(label.topic_id)
    shown = category if category == label.topic_id else f"{category}, subcategory {label.topic_id}"
    console.print(
        f"{label.session_key}: topic {shown} (manual); other sessions learn from it at the next topicsync",
        markup=False,
        highlight=False,
    )


def topic_unset(session_key: Annotated[str, typer.Argument(help="unified.sessions.session_key")]) -> None:
    """Remove a session's manual label; the next topicsync classifies it again."""
    from chitty_pipelines.unified.topic_labels import unset_label

    wh, _ = _labels_context()
    if not unset_label(wh, session_key):
        console.print(f"[bold red]error:[/bold red] session {session_key!r} has no manual topic label")
        raise typer.Exit(2)
    console.print(f"{session_key}: manual topic label removed; the next topicsync classifies it")


def topicsync(
    full_refresh: Annotated[
        bool,
        typer.Option(
            "--full-refresh", help="Re-classify every session, not only those whose summary changed."
        ),
    ] = False,
) -> None:
    """Categorise sessions into the topic taxonomy (CHITTY_TOPIC_CLASSIFIER, CHITTY_TOPIC_TAXONOMY).
    With CHITTY_SYNC_URL set: file this machine's Claude Code conversations of the last 7 days on
    the hub (POST /api/topic; the hub derives each category)."""
    if config.env("CHITTY_SYNC_URL"):
        from chitty_pipelines.cli import remote

        remote.topicsync()
        return
    from chitty_pipelines.cli.app import print_event
    from chitty_pipelines.cli.runner import execute_with_progress, open_instance
    from chitty_pipelines.definitions import defs
    from chitty_pipelines.kernel.assets import FULL_REFRESH_TAG

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
    from chitty_pipelines.warehouse.from_settings import warehouse_from_settings

    wh = warehouse_from_settings()
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
    if len(df):
        print_table(table)
    else:
        out.print("no sessions categorised")


def topics_list(
    category: Annotated[
        str | None, typer.Argument(help="A category: its filed conversations. Omit for every category.")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="The answer of GET /api/topic or /api/topic/CATEGORY.")
    ] = False,
) -> None:
    """Topic categories (unified topics and the conversations filed with the sync API), or one
    category's conversations; with CHITTY_SYNC_URL set, the hub's. Same answers either way: the
    local command runs the API's own handlers on this machine's hub store and warehouse."""
    import json
    import re

    from rich.markup import escape

    from chitty_pipelines.api.models import ID_PATTERN

    if category is not None and not re.fullmatch(ID_PATTERN, category):
        rule = "use 1-128 of A-Z a-z 0-9 . _ : @ -"
        console.print(f"invalid category {category!r}: {rule}", markup=False, highlight=False)
        raise typer.Exit(1)
    if config.env("CHITTY_SYNC_URL"):
        from chitty_pipelines.chittyos.sync_client import SyncServiceError
        from chitty_pipelines.cli import remote

        with remote.client() as c:
            where = f"hub {c.base_url}"
            try:
                body = c.request("GET", f"/api/topic/{category}" if category else "/api/topic").body
            except SyncServiceError as exc:
                if exc.status != 404 or category is None or not isinstance(exc.body, dict):
                    raise
                body = None
    else:
        body, where = _local_topics(category)
    if body is None:
        console.print(f"no topic category {category!r} ({where})", markup=False, highlight=False)
        raise typer.Exit(1)
    if as_json:
        out.print_json(json.dumps(body))
        return
    if category is None:
        table = Table(title=f"topic categories ({where})")
        for column in ("category", "conversations", "avg confidence", "sessions", "last updated"):
            table.add_column(column)
        for t in body.get("topics", []):
            conf = t.get("avgConfidence")
            table.add_row(
                escape(t["category"]), str(t["count"]), "-" if conf is None else f"{conf:.2f}",
                "-" if t.get("sessions") is None else str(t["sessions"]), t.get("lastUpdated") or "-",
            )  # fmt: skip
        if body.get("topics"):
            print_table(table)
        else:
            out.print("no topics yet (topicsync files conversations; syncall builds unified.topics)")
        return
    table = Table(title=f"conversations of {category} ({where})")
    for column in ("id", "confidence", "by", "updated", "opening"):
        table.add_column(column)
    for c in body.get("conversations", []):
        preview = (c.get("content_preview") or "").replace("\n", " ")[:80]
        table.add_row(
            escape(c["id"]), f"{c['confidence']:.2f}", escape(c.get("categorizedBy") or "-"), c["updated"],
            escape(preview),
        )  # fmt: skip
    if body.get("conversations"):
        print_table(table)
    else:
        # The sessions a sync put in it are what `topic set` takes: name the query that lists them.
        query = (
            "SELECT session_key, confidence, rank, classifier FROM unified.session_topics "
            f"WHERE topic_id = '{category}' ORDER BY rank, confidence DESC"
        )
        out.print(
            f"no conversations filed under {category}; its sessions (keys for `chitty-sync topic set`): "
            f'chitty-sync sql "{query}"',
            markup=False,
            highlight=False,
        )


def _local_topics(category: str | None) -> tuple[dict | None, str]:
    """GET /api/topic[/category] answered in process, by the route handlers themselves."""
    from chitty_pipelines.api.app import ApiSettings, AppState
    from chitty_pipelines.api.auth import NO_AUTH
    from chitty_pipelines.api.errors import ApiError
    from chitty_pipelines.api.routes import topics as routes

    api = AppState(ApiSettings.from_env())
    where = f"hub store {api.hub.path}"
    try:
        reply = routes.get_category(api, NO_AUTH, category) if category else routes.list_topics(api, NO_AUTH)
    except ApiError as exc:
        if exc.status == 404:
            return None, where
        console.print(f"[bold red]error:[/bold red] {escape_text(exc.error)}")
        raise typer.Exit(1) from None
    return reply.model_dump(), where


def escape_text(text: str) -> str:
    from rich.markup import escape

    return escape(text)
