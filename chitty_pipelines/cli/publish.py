"""``chitty-sync publish [--project P] [--approve]``: the consolidated state and todos files for the
chittychat-data repository (contracts §1.3). Without ``--approve`` it only shows the diff against
the repository (files, lines added and removed) and writes nothing. With ``--approve`` it runs the
approval-gated Dagster asset ``chittychat_data/published``, which makes exactly one commit (never a
force push) and stops if the branch moved since the diff was computed."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from chitty_pipelines.cli.app import console, out, print_table


def register(app: typer.Typer) -> None:
    """Add ``publish`` to the ``chitty-sync`` app (cli/__init__.py calls this)."""
    app.command()(publish)


def publish(
    project: Annotated[str | None, typer.Option("--project", help="Publish one project only.")] = None,
    approve: Annotated[
        bool, typer.Option("--approve", help="Commit the files (one commit); without it: diff only.")
    ] = False,
    expect_head: Annotated[
        str | None,
        typer.Option("--expect-head", help="Branch head the diff was reviewed on; stop if it moved."),
    ] = None,
    expect_files: Annotated[
        str | None,
        typer.Option("--expect-files", help="Digest of the reviewed diff; stop if the files differ."),
    ] = None,
    show_diff: Annotated[
        bool, typer.Option("--diff", help="Print the line diff of every changed file.")
    ] = False,
) -> None:
    """Show (and with --approve commit) the consolidated files for the chittychat-data repository."""
    from chitty_pipelines.ops.publish import data_repository
    from chitty_pipelines.platforms.github.publish_client import plan_publish
    from chitty_pipelines.platforms.github.resource import GitHubError, GitHubResource
    from chitty_pipelines.unified.publish_files import PublishInputError, consolidated_files
    from chitty_pipelines.warehouse.from_settings import warehouse_from_settings

    # Resolve the EnvVar token the way a run would; outside a run it is still a reference.
    github = GitHubResource.from_settings().process_config_and_initialize()
    try:
        files = consolidated_files(warehouse_from_settings(), project)
        repository = data_repository(github)
        with github.client() as client:
            plan = plan_publish(client, repository, files)
    except (GitHubError, PublishInputError) as exc:
        console.print(f"[red]publish: {exc}[/red]", highlight=False)
        raise typer.Exit(1) from None
    table = Table(title=f"{repository}@{plan.branch} (head {plan.head_sha[:12]})")
    for column in ("file", "change", "+", "-"):
        table.add_column(column)
    for c in plan.changed:
        table.add_row(c.path, c.status, f"+{c.added}", f"-{c.removed}")
    if plan.changed:
        print_table(table)
    else:
        out.print(f"{repository}@{plan.branch}: up to date, nothing to publish")
    unchanged = len(plan.changes) - len(plan.changed)
    out.print(
        f"{len(plan.changed)} files changed, +{plan.lines_added} -{plan.lines_removed} lines "
        f"({unchanged} unchanged); head {plan.head_sha}, diff {plan.digest}",
        highlight=False,
    )
    if show_diff:
        for c in plan.changed:
            out.print(c.diff, markup=False, highlight=False)
    hint = f"chitty-sync publish --approve --expect-head {plan.head_sha} --expect-files {plan.digest}"
    hint += f" --project {project}" if project else ""
    if not approve:
        if plan.changed:
            # soft_wrap: the command stays on one line, so it can be copied.
            out.print(
                f"dry run: nothing written. To commit exactly this diff: {hint}",
                highlight=False,
                soft_wrap=True,
            )
        return
    if not plan.changed:
        return
    expected = expect_head or plan.head_sha
    if expected != plan.head_sha:
        console.print(
            f"[red]publish: {repository} changed since the diff was computed: {plan.branch} was at "
            f"{expected[:12]}, now {plan.head_sha[:12]}; nothing was written. Review the diff above and "
            "approve again.[/red]",
            highlight=False,
        )
        out.print(f"To commit exactly the diff above: {hint}", highlight=False, soft_wrap=True)
        raise typer.Exit(1)
    if expect_files and expect_files != plan.digest:
        console.print(
            f"[red]publish: the files to publish changed since the diff was reviewed (digest {expect_files}, "
            f"now {plan.digest}); nothing was written. Review the diff above and approve again.[/red]",
            highlight=False,
        )
        out.print(f"To commit exactly the diff above: {hint}", highlight=False, soft_wrap=True)
        raise typer.Exit(1)
    _run_approved(expected, plan.digest, project)


def _run_approved(expected_head: str, digest: str, project: str | None) -> None:
    """Through Dagster, so the write is a recorded run with its materialization (commit sha). The
    tags carry the approval and what was shown: the asset re-checks both before writing."""
    from chitty_pipelines import config
    from chitty_pipelines.cli.app import print_event
    from chitty_pipelines.cli.runner import execute_with_progress, open_instance
    from chitty_pipelines.definitions import defs
    from chitty_pipelines.ops.publish import (
        APPROVE_TAG,
        DIGEST_TAG,
        EXPECTED_HEAD_TAG,
        PROJECT_TAG,
        PUBLISH_JOB,
        PUBLISH_KEY,
    )

    tags = {APPROVE_TAG: "true", EXPECTED_HEAD_TAG: expected_head, DIGEST_TAG: digest}
    if project:
        tags[PROJECT_TAG] = project
    with open_instance() as instance:
        outcome = execute_with_progress(
            defs.resolve_job_def(PUBLISH_JOB), instance, on_event=print_event, tags=tags
        )
        event = instance.get_latest_materialization_event(PUBLISH_KEY) if outcome.success else None
    where = f"recorded in {config.load_settings().dagster_home}"
    if not outcome.success:
        console.print(f"[bold red]publish failed[/bold red]: run {outcome.run_id} ({where})")
        raise typer.Exit(1)
    meta = event.asset_materialization.metadata if event and event.asset_materialization else {}
    sha = getattr(meta.get("commit_sha"), "value", "")
    console.print(f"publish [green]succeeded[/green]: commit {sha or '-'}, run {outcome.run_id} ({where})")
    out.print(f"committed {sha}" if sha else "nothing to commit", highlight=False)
