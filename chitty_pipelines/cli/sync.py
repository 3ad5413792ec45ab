"""``syncall`` and ``backfill``: the commands that run the sync jobs through Dagster."""

from __future__ import annotations

from typing import Annotated

import typer

from chitty_pipelines import config
from chitty_pipelines.cli.app import app, console, print_event


@app.command()
def syncall(
    full_refresh: Annotated[
        bool,
        typer.Option(
            "--full-refresh", help="Ignore cursors and re-read everything (upserts, no duplicates)."
        ),
    ] = False,
) -> None:
    """Sync every configured platform, then the unified tables (a failed platform fails alone)."""
    from chitty_pipelines.cli.runner import execute_with_progress, open_instance
    from chitty_pipelines.definitions import defs
    from chitty_pipelines.ops.jobs import SYNC_PLATFORMS, SYNC_UNIFIED
    from chitty_pipelines.platforms import registry

    tags = {"chitty/full_refresh": "true"} if full_refresh else {}
    settings = config.load_settings()
    configured = registry.configured()
    skipped = [spec for spec in registry.PLATFORMS if spec not in configured]
    # Half configured (a token without the ids it needs): not synced, and a failure of its own.
    half_set = {spec.name: reason for spec in skipped if (reason := spec.half_set())}
    skipped = [spec for spec in skipped if spec.name not in half_set]
    if skipped:
        console.print(
            "not configured (not synced): "
            + ", ".join(f"{s.name} ({s.not_configured_hint()})" for s in skipped),
            style="dim",
            highlight=False,
        )
    failed_platforms: list[tuple[str, str]] = []
    failed_jobs: list[str] = []
    warnings: list[str] = []
    _reach_warehouse()
    _reach_broker()
    with open_instance() as instance:
        # Platforms first, then the unified layer in a run of its own, so that a platform that
        # fails (bad token, server down) fails its own step while the unified tables still take
        # in everything the other platforms landed.
        # (Neon's streams are incremental in sync_platforms: the first run lands the whole
        # history; the by-day assets are only for `backfill`.)
        jobs: list[tuple[str, str | None]] = [(SYNC_PLATFORMS, None)] if configured else []
        jobs.append((SYNC_UNIFIED, None))
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
            # Platforms in parallel processes when there is more than one to sync (each process
            # loads the code location, ~1 s, which one platform alone would only wait for).
            parallel = (
                min(settings.max_concurrent_platforms, len(configured)) if name == SYNC_PLATFORMS else 1
            )
            outcome = execute_with_progress(
                job,
                instance,
                on_event=print_event,
                tags=tags,
                partition_key=partition_key,
                max_concurrent=parallel,
            )
            where = f"recorded in {settings.dagster_home}"
            verdict = "[green]succeeded[/green]" if outcome.success else "[bold red]failed[/bold red]"
            count = len(outcome.materialized)
            console.print(f"{name} {verdict}: {count} assets materialized, run {outcome.run_id} ({where})")
            warnings += [w for w in outcome.warnings if w not in warnings]
            if not outcome.success:
                failed_jobs.append(name)
                for step, error in zip(outcome.failed_steps, outcome.errors, strict=False):
                    failed_platforms += [(g, error) for g in _groups_of_steps(defs, [step])]
    for warning in warnings:  # before the outcome: the last line stays the outcome
        console.print(f"! warning: {warning}", style="yellow", markup=False, highlight=False)
    for name, reason in half_set.items():
        console.print(f"[bold red]✗ {name} half configured[/bold red]: {reason}", highlight=False)
    if half_set and not failed_jobs:
        console.print(
            f"[bold red]syncall failed[/bold red] ({', '.join(half_set)} not synced)", highlight=False
        )
        raise typer.Exit(1)
    if failed_jobs:
        # The last lines say what failed, with its error and what configures it.
        shown: set[tuple[str, str]] = set()
        for group, error in dict.fromkeys(failed_platforms):
            spec = registry.BY_NAME.get(group)
            reason = error.split(": ", 1)[-1].strip().splitlines()[0]
            if (group, reason) in shown:  # two steps of one platform (Neon's streams), one cause
                continue
            shown.add((group, reason))
            # A warehouse lost mid-run is no fault of the platform's own settings; an error that
            # already names the variable to fix (GITHUB_BASE_URL, DRIVE_FOLDER_ID) must not be
            # followed by a different one ("configured by GITHUB_TOKEN").
            named = any(v.name in reason for v in config.ENV_VARS if v.platform == group)
            blame = spec and "CHITTY_WAREHOUSE_URL" not in reason and not named
            hint = f" (configured by {spec.setup_hint})" if blame else ""
            console.print(f"[bold red]✗ {group} failed[/bold red]: {reason}{hint}", highlight=False)
        console.print(f"[bold red]syncall failed[/bold red] ({', '.join(failed_jobs)})", highlight=False)
        raise typer.Exit(1)
    if warnings:
        n = len(warnings)
        console.print(f"[yellow]syncall succeeded with {n} warning{'s' if n != 1 else ''}[/yellow]")
    else:
        console.print("[green]syncall succeeded[/green]", highlight=False)
    if not configured:
        _print_first_steps(settings)


def _reach_warehouse() -> None:
    """A PostgreSQL warehouse (CHITTY_WAREHOUSE_URL) must answer before any run starts.

    Otherwise a wrong password or a server that is down failed every step of two runs, and the
    summary blamed each platform's own variables ("claude_code failed: cannot connect to the
    PostgreSQL warehouse ... (configured by CLAUDE_HOME)"). WarehouseUnavailable names the
    variable and never the password. The embedded DuckDB file needs no such check."""
    if config.env("CHITTY_WAREHOUSE_URL") is None:
        return
    import psycopg

    from chitty_pipelines.cli.app import warehouse

    wh = warehouse()
    try:
        with wh.connect() as con:
            may_write = con.execute("SELECT has_table_privilege('ops.sync_log', 'INSERT')").fetchone()[0]
    except psycopg.errors.InsufficientPrivilege:  # cannot even set up the ops schema
        may_write = False
    if not may_write:
        # Otherwise every platform failed on its own with `permission denied for table sync_log`,
        # blamed on that platform's variables ("configured by CLAUDE_HOME").
        raise config.ConfigError(
            f"the role of CHITTY_WAREHOUSE_URL may not write the PostgreSQL warehouse {wh.location}: "
            "syncall needs a role that may create and write its tables (a read-only role can run "
            "sql and status)"
        )


def _reach_broker() -> None:
    """With CHITTY_EXECUTOR=celery the Redis broker must answer before any run starts.

    Otherwise each run spent ~20 s in Celery's connection retries before failing outside any
    step, so a syncall with the broker down took ~40 s to say so. One ping with a short timeout
    says it at once; the message names the variable and never the broker's password."""
    if config.executor() != "celery":
        return
    from urllib.parse import urlsplit

    from chitty_pipelines.ops.distributed import BROKER_VAR

    url = config.env(BROKER_VAR) or ""
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss"):
        return  # another transport: Celery's own error stands
    import redis

    where = f"{parts.hostname or 'localhost'}:{parts.port or 6379}{parts.path or '/0'}"
    client = redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3)
    try:
        client.ping()
    except redis.RedisError as exc:
        reason = config.scrub(str(exc).split("\n")[0].strip().rstrip("."))
        refused = isinstance(exc, redis.AuthenticationError) or "NOAUTH" in str(exc)
        hint = f"check the password in {BROKER_VAR}" if refused else "is the Redis broker up?"
        raise config.ConfigError(
            f"cannot reach the Celery broker of {BROKER_VAR} ({where}): {reason}; "
            f"{hint} (README: Distributed runs on Celery)"
        ) from None
    finally:
        client.close()
    _warn_without_workers(where)


def _warn_without_workers(where: str) -> None:
    """No worker answers: the run's first step waits in the broker until one starts (as
    documented), so say so now instead of a silent `sync_platforms` line that never moves."""
    from chitty_pipelines.ops.distributed import BROKER_VAR, workers_answering

    if workers_answering():
        return
    console.print(
        f"! no Celery worker answers on the broker of {BROKER_VAR} ({where}): the run waits until "
        "one starts (on a worker machine: .venv/bin/celery -A chitty_pipelines.ops.distributed "
        "worker -Q dagster -c 1 --without-gossip)",
        style="yellow",
        markup=False,
        highlight=False,
    )


def _print_first_steps(settings: config.Settings) -> None:
    """Nothing was configured, so nothing was synced: say where the AI tools' files are looked
    for, what to set, and how to try everything without any of them (a first run ends here)."""
    homes = ", ".join(str(h / "projects") for h in settings.claude_homes)
    console.print(
        "nothing to sync: no platform is configured.\n"
        f"  Claude Code transcripts are looked for in {homes} (set CLAUDE_HOME to another folder);\n"
        f"  ChatGPT and Gemini exports in {settings.exports_dir} (set CHITTY_EXPORTS_DIR);\n"
        "  `chitty-sync env` lists every platform's variables;\n"
        "  `chitty-sync demo` tries everything against local fakes.",
        markup=False,
        highlight=False,
    )


def _groups_of_steps(defs, steps: list[str]) -> list[str]:
    """The Dagster groups (for platforms: their names) of the assets that failed steps compute."""
    groups = []
    for assets_def in defs.resolve_asset_graph().assets_defs:
        if assets_def.is_executable and assets_def.node_def.name in steps:
            groups += sorted(set(assets_def.group_names_by_key.values()))
    return groups


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
    from chitty_pipelines.platforms import registry

    names = [job_name] if job_name else PARTITIONED_JOBS
    unknown = [n for n in names if n not in PARTITIONED_JOBS]
    if unknown:
        console.print(f"[red]unknown partitioned job {unknown[0]!r}; choose from {PARTITIONED_JOBS}[/red]")
        raise typer.Exit(2)
    for name in names:  # the range first: a typo is the first thing to fix
        job = defs.resolve_job_def(name)
        keys = job.partitions_def.get_partition_keys() if job.partitions_def else []
        for day in (start, end):
            if day not in keys:
                console.print(
                    f"[red]{day} is not a partition of {name} (first: {keys[0] if keys else '-'})[/red]"
                )
                raise typer.Exit(2)
        if keys.index(start) > keys.index(end):  # Dagster would run a range of one day
            console.print(f"[red]--from {start} is after --to {end}: nothing to re-sync; swap them[/red]")
            raise typer.Exit(2)
    ok = True
    # A platform that is not configured would "re-sync" every day as not configured and exit 0:
    # a forgotten NEON_DATABASE_URL looked like a successful backfill.
    configured = {spec.name for spec in registry.configured()}
    for name in names:
        for group in _platforms_of_job(defs, name):
            spec = registry.BY_NAME.get(group)
            if spec is not None and group not in configured:
                console.print(
                    f"✗ {group} is not configured (set {spec.setup_hint}): {name} has nothing to re-sync",
                    style="red",
                    markup=False,
                    highlight=False,
                )
                raise typer.Exit(2)
    _reach_warehouse()
    _reach_broker()
    with open_instance() as instance:
        for name in names:
            job = defs.resolve_job_def(name)
            console.print(f"[bold]{name}[/bold] {start} … {end}", highlight=False)
            # Range tags make one run cover the whole window (the assets' single-run backfill policy).
            tags = {"dagster/asset_partition_range_start": start, "dagster/asset_partition_range_end": end}
            outcome = execute_with_progress(job, instance, on_event=print_event, tags=tags)
            ok = ok and outcome.success
            # The last line says how it ended (a failed step alone left only the ✗ line above).
            verdict = "[green]succeeded[/green]" if outcome.success else "[bold red]failed[/bold red]"
            where = f"recorded in {config.load_settings().dagster_home}"
            console.print(
                f"{name} {start} … {end} {verdict}: run {outcome.run_id} ({where})", highlight=False
            )
    if not ok:
        raise typer.Exit(1)


def _platforms_of_job(defs, name: str) -> list[str]:
    """The groups (for platforms: their names) of the assets a job materializes."""
    job = defs.resolve_job_def(name)
    graph = defs.resolve_asset_graph()
    return sorted({graph.get(key).group_name for key in job.asset_layer.selected_asset_keys})
