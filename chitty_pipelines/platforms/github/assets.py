"""The GitHub platform (group ``github``, key prefix ``raw_github``): repositories, commits of
default branches, issues and pull requests, and the ChittyOS data repository's files.

Read-only: nothing here writes to GitHub. Extraction (github_sync, github_data) happens before
the warehouse is opened; each asset then commits its rows and cursors in one transaction.
"""

from collections.abc import Callable, Iterator

import dagster as dg

from chitty_pipelines.kernel.assets import (
    Check,
    StreamStats,
    SyncConfig,
    bundled_checks,
    is_full_refresh,
    log_sync,
    not_configured_results,
    now,
    rejects_check,
    table_metadata,
    unique_key_check,
)
from chitty_pipelines.platforms.github.data import (
    DATA_TABLES,
    PROJECT_STATES,
    PROJECT_TODOS,
    PROJECTS,
    STREAM,
    sync_data_repo,
)
from chitty_pipelines.platforms.github.health import probe
from chitty_pipelines.platforms.github.resource import GitHubClient, GitHubResource
from chitty_pipelines.platforms.github.streams import (
    Batch,
    commit_batches,
    configured_repos,
    sync_commits,
    sync_issues,
    sync_repositories,
)
from chitty_pipelines.platforms.github.tables import COMMITS, ISSUES, PLATFORM, PULL_REQUESTS, REPOSITORIES
from chitty_pipelines.warehouse import TableSpec, Warehouse
from chitty_pipelines.warehouse.resource import WarehouseResource

KINDS = {"github", "duckdb"}


def _key(table: TableSpec) -> dg.AssetKey:
    return dg.AssetKey(["raw_github", table.name])


def _spec(table: TableSpec, deps: list[dg.AssetKey] | None = None) -> dg.AssetSpec:
    return dg.AssetSpec(
        _key(table), description=table.description, group_name=PLATFORM, kinds=KINDS, deps=deps or []
    )


def _result(
    context: dg.AssetExecutionContext,
    wh: Warehouse,
    table: TableSpec,
    batch: Batch,
    client: GitHubClient,
    started: object,
    full_refresh: bool,
) -> dg.MaterializeResult:
    stats = batch.stats(table, client)
    log_sync(wh, context, platform=PLATFORM, asset=table.qualified, started_at=started, status="success",
             stats=stats, full_refresh=full_refresh)  # fmt: skip
    return dg.MaterializeResult(
        asset_key=_key(table), metadata={"configured": True, **table_metadata(wh, table, stats)}
    )


def _not_configured(
    context: dg.AssetExecutionContext, wh: Warehouse, tables: tuple[TableSpec, ...], reason: str
) -> list[dg.MaterializeResult]:
    started = now()
    for t in tables:
        log_sync(wh, context, platform=PLATFORM, asset=t.qualified, started_at=started,
                 status="not_configured", stats=StreamStats(), message=reason)  # fmt: skip
    context.log.info(f"GitHub not configured: {reason}")
    return not_configured_results([_key(t) for t in tables], reason)


def _sync_per_repo_stream(
    context: dg.AssetExecutionContext,
    github: GitHubResource,
    wh: Warehouse,
    stream: str,
    sync: Callable[..., Batch],
    tables: tuple[TableSpec, ...],
    full: bool,
) -> tuple[Batch, GitHubClient]:
    """Reads a per-repository stream (commits, issues) of the configured repositories from its
    stored cursors and commits it; every table gets a result, even with no rows."""
    repos = configured_repos(wh, github.owners, github.repositories)
    with github.client() as client:
        batch = sync(client, repos, wh.cursors(PLATFORM, stream), full, github.max_workers)
    for table in tables:
        batch.rows.setdefault(table, [])
    commit_batches(wh, context.run.run_id, batch)
    return batch, client


@dg.asset(
    key=_key(REPOSITORIES),
    group_name=PLATFORM,
    kinds=KINDS,
    description="Repositories of GITHUB_OWNERS and GITHUB_REPOSITORIES: metadata, default branch, "
    "pushed_at, topics, archived. Listing pages are re-read only when their ETag changes.",
)
def repositories(
    context: dg.AssetExecutionContext,
    config: SyncConfig,
    github: GitHubResource,
    warehouse: WarehouseResource,
) -> dg.MaterializeResult:
    wh = warehouse.get()
    if not github.configured:
        return _not_configured(context, wh, (REPOSITORIES,), github.not_configured_reason())[0]
    started, full = now(), is_full_refresh(context, config)
    with github.client() as client:
        stored = wh.cursors(PLATFORM, "repositories")
        batch = sync_repositories(client, github.owners, github.repositories, stored, full)
    batch.rows.setdefault(REPOSITORIES, [])
    commit_batches(wh, context.run.run_id, batch)
    return _result(context, wh, REPOSITORIES, batch, client, started, full)


@dg.asset(
    key=_key(COMMITS),
    group_name=PLATFORM,
    kinds=KINDS,
    deps=[_key(REPOSITORIES)],
    description="Commits of each repository's default branch, incremental with `since` (one day of "
    "overlap); a repository whose pushed_at did not move is not requested at all.",
)
def commits(
    context: dg.AssetExecutionContext,
    config: SyncConfig,
    github: GitHubResource,
    warehouse: WarehouseResource,
) -> dg.MaterializeResult:
    wh = warehouse.get()
    if not github.configured:
        return _not_configured(context, wh, (COMMITS,), github.not_configured_reason())[0]
    started, full = now(), is_full_refresh(context, config)
    batch, client = _sync_per_repo_stream(context, github, wh, "commits", sync_commits, (COMMITS,), full)
    return _result(context, wh, COMMITS, batch, client, started, full)


@dg.multi_asset(
    specs=[_spec(ISSUES, [_key(REPOSITORIES)]), _spec(PULL_REQUESTS, [_key(REPOSITORIES)])],
    name="github_issues",
    description="Issues and pull requests from the issues API (told apart by its pull_request key), "
    "newest-updated first with an ETag on page 1, stopping at the stored cursor.",
)
def issues_and_pull_requests(
    context: dg.AssetExecutionContext,
    config: SyncConfig,
    github: GitHubResource,
    warehouse: WarehouseResource,
) -> Iterator[dg.MaterializeResult]:
    wh = warehouse.get()
    if not github.configured:
        yield from _not_configured(context, wh, (ISSUES, PULL_REQUESTS), github.not_configured_reason())
        return
    started, full = now(), is_full_refresh(context, config)
    batch, client = _sync_per_repo_stream(
        context, github, wh, "issues", sync_issues, (ISSUES, PULL_REQUESTS), full
    )
    yield _result(context, wh, ISSUES, batch, client, started, full)
    yield _result(context, wh, PULL_REQUESTS, batch, client, started, full)


@dg.multi_asset(
    specs=[_spec(t) for t in DATA_TABLES],
    name="github_chittychat_data",
    description="The ChittyOS data repository (GITHUB_DATA_REPOSITORY): consolidated/<project>/"
    "state.json, todos/<project>/todos.json and projects/*.json parsed into tables.",
)
def chittychat_data(
    context: dg.AssetExecutionContext,
    config: SyncConfig,
    github: GitHubResource,
    warehouse: WarehouseResource,
) -> Iterator[dg.MaterializeResult]:
    wh = warehouse.get()
    repo = github.data_repo_full_name()
    if not github.configured or not repo:
        reason = (
            github.not_configured_reason()
            if not github.configured
            else "set GITHUB_DATA_REPOSITORY=owner/name"
        )
        yield from _not_configured(context, wh, DATA_TABLES, reason)
        return
    started, full = now(), is_full_refresh(context, config)
    with github.client() as client:
        batch = sync_data_repo(client, repo, wh.cursors(PLATFORM, STREAM), full)
    batch.extra["repository"] = repo
    commit_batches(wh, context.run.run_id, batch)
    for table in DATA_TABLES:
        yield _result(context, wh, table, batch, client, started, full)


@dg.asset_check(asset=_key(REPOSITORIES), name="github_token_valid", blocking=True)
def github_token_valid(github: GitHubResource) -> dg.AssetCheckResult:
    """GITHUB_TOKEN authenticates (GET /user) and the rate budget is readable (GET /rate_limit)."""
    health = probe(github)
    if not health.get("configured"):
        return dg.AssetCheckResult(passed=True, severity=dg.AssetCheckSeverity.WARN,
                                   metadata={"configured": False, "reason": health["reason"]})  # fmt: skip
    return dg.AssetCheckResult(
        passed=bool(health["ok"]),
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={k: v for k, v in health.items() if v is not None and k != "ok"},
    )


def _unique_check(table: TableSpec) -> Check:
    return Check(
        _key(table), f"{table.name}_unique_key", unique_key_check(table), f"{table.primary_key} is unique"
    )


# The other checks in two steps (common.bundled_checks says why): one for the assets that read
# GitHub first (repositories, the data repository), one for commits, issues and pull requests,
# which depend on repositories through another op. A bundle mixing the two levels would be split
# by Dagster into aliased copies of one op, which the multiprocess executor can mix up.
# github_token_valid keeps its own step: it blocks commits and issues, so it cannot wait for them.
github_checks = bundled_checks(
    "github_checks",
    [
        Check(
            _key(REPOSITORIES),
            "github_rejects",
            rejects_check(PLATFORM, ["repositories", "commits", "issues"]),
            "Repositories that could not be read, and malformed items.",
        ),
        Check(
            _key(PROJECT_STATES),
            "chittychat_data_rejects",
            rejects_check(PLATFORM, [STREAM]),
            "Files of the data repository that are not valid JSON (or not the expected shape).",
        ),
        *(_unique_check(t) for t in (REPOSITORIES, PROJECT_STATES, PROJECT_TODOS, PROJECTS)),
    ],
    {"warehouse"},
)
github_activity_checks = bundled_checks(
    "github_activity_checks", [_unique_check(t) for t in (COMMITS, ISSUES, PULL_REQUESTS)], {"warehouse"}
)

GITHUB_ASSETS = [repositories, commits, issues_and_pull_requests, chittychat_data]
GITHUB_CHECKS = [github_token_valid, github_checks, github_activity_checks]

# Resources come from the platform registry (definitions.py), one per resource key.
defs = dg.Definitions(
    assets=GITHUB_ASSETS,
    asset_checks=GITHUB_CHECKS,
)
