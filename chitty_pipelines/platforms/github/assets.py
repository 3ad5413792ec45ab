"""The GitHub platform (group ``github``, key prefix ``raw_github``): repositories, commits of
default branches, issues and pull requests, and the ChittyOS data repository's files.

Read-only: nothing here writes to GitHub. One step (the kernel's ``platform_assets``) runs the
streams the selection needs, in dependency order (repositories before the per-repository
streams); each stream commits its rows and cursors in one transaction (``streams.commit_batches``)
before the next starts. The checks run in the same step, after the data.
"""

from collections.abc import Iterator

import dagster as dg

from chitty_pipelines.kernel.assets import Check, rejects_check, unique_key_check
from chitty_pipelines.kernel.platform_asset import PlatformRun, TableAsset, TableResult, platform_assets
from chitty_pipelines.platforms.github.data import (
    DATA_TABLES,
    PROJECT_STATES,
    PROJECT_TODOS,
    PROJECTS,
    STREAM,
    sync_data_repo,
)
from chitty_pipelines.platforms.github.health import probe
from chitty_pipelines.platforms.github.resource import GitHubResource
from chitty_pipelines.platforms.github.streams import (
    commit_batches,
    current_repos,
    sync_commits,
    sync_issues,
    sync_repositories,
)
from chitty_pipelines.platforms.github.tables import COMMITS, ISSUES, PLATFORM, PULL_REQUESTS, REPOSITORIES
from chitty_pipelines.warehouse import TableSpec


def _key(table: TableSpec) -> dg.AssetKey:
    return dg.AssetKey([table.schema, table.name])


def sync(run: PlatformRun) -> Iterator[TableResult]:
    """Sync the streams whose tables are selected (a stream's tables come from the same requests,
    so a stream runs, and writes all its tables, when any of them is selected)."""
    github: GitHubResource = run.resources.github
    wh = run.warehouse
    selected = {key.path[-1] for key in run.selected}

    per_repo = [
        ("commits", sync_commits, (COMMITS,)),
        ("issues", sync_issues, (ISSUES, PULL_REQUESTS)),
    ]
    wanted = [
        (stream, fn, tables) for stream, fn, tables in per_repo if any(t.name in selected for t in tables)
    ]
    repos_batch = None
    # Commits, issues and pull requests need the repositories (which exist, their default branch
    # and pushed_at), so the repositories stream runs first whenever one of them is selected.
    # Unselected, its batch is not written (its table is not materialized by this run); the
    # pages that changed since its last sync still update the list the streams below read.
    if REPOSITORIES.name in selected or wanted:
        with github.client() as client:
            stored = wh.cursors(PLATFORM, "repositories")
            repos_batch = sync_repositories(
                client, github.owners, github.repositories, stored, run.full_refresh
            )
        if REPOSITORIES.name in selected:
            repos_batch.rows.setdefault(REPOSITORIES, [])
            commit_batches(wh, run.run_id, repos_batch)
            yield repos_batch.result(REPOSITORIES, client)

    for stream, sync_stream, tables in wanted:
        repos = current_repos(wh, github.owners, github.repositories, repos_batch)
        with github.client() as client:
            stored = wh.cursors(PLATFORM, stream)
            batch = sync_stream(client, repos, stored, run.full_refresh, github.max_workers)
        for table in tables:
            batch.rows.setdefault(table, [])
        commit_batches(wh, run.run_id, batch)
        yield from (batch.result(table, client, reads=i == 0) for i, table in enumerate(tables))

    if any(t.name in selected for t in DATA_TABLES):
        repo = github.data_repo_full_name()
        if not repo:
            yield from (
                TableResult.not_configured(t, "set GITHUB_DATA_REPOSITORY=owner/name") for t in DATA_TABLES
            )
        else:
            with github.client() as client:
                batch = sync_data_repo(client, repo, wh.cursors(PLATFORM, STREAM), run.full_refresh)
            batch.extra["repository"] = repo
            commit_batches(wh, run.run_id, batch)
            yield from (batch.result(t, client, reads=i == 0) for i, t in enumerate(DATA_TABLES))

    missing = repos_batch.extra.get("missing_repositories") if repos_batch else None
    if missing:
        # Everything else has landed; a repository that does not exist (or that the token may not
        # see) is a setting to fix, like a wrong owner, not a row to skip quietly.
        run.fail_after(
            f"GitHub has no repository {', '.join(missing)} visible to GITHUB_TOKEN (404 at "
            f"{github.base_url}): check GITHUB_REPOSITORIES (owner/name, comma-separated), or give "
            "the token access to it; the other repositories were synced"
        )


def github_token_valid(github: GitHubResource) -> dg.AssetCheckResult:
    """GITHUB_TOKEN authenticates (GET /user) and the rate budget is readable (GET /rate_limit)."""
    health = probe(github, verify_names=False)
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
        _key(table),
        f"{table.name}_unique_key",
        unique_key_check(table),
        f"No two rows of {table.qualified} share ({', '.join(table.primary_key)}).",
    )


_CHECKS = [
    # Blocking, as before. It used to run before commits and issues (its own step, between the
    # repositories asset and theirs); in the one platform step it runs after all the data has
    # landed, so a revoked token now fails the GitHub step (and stops what is downstream of it)
    # after the streams were committed. A revoked token fails the streams themselves first anyway.
    Check(
        _key(REPOSITORIES),
        "github_token_valid",
        lambda context: github_token_valid(context.resources.github),
        "GITHUB_TOKEN authenticates and the rate budget is readable (GET /rate_limit, free).",
        blocking=True,
    ),
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
    *(
        _unique_check(t)
        for t in (REPOSITORIES, PROJECT_STATES, PROJECT_TODOS, PROJECTS, COMMITS, ISSUES, PULL_REQUESTS)
    ),
]

_REPOSITORIES_KEY = _key(REPOSITORIES)

github_sync = platform_assets(
    PLATFORM,
    name="github_sync",
    tables=[
        TableAsset(
            REPOSITORIES,
            "Repositories of GITHUB_OWNERS and GITHUB_REPOSITORIES: metadata, default branch, "
            "pushed_at, topics, archived. Listing pages are re-read only when their ETag changes.",
        ),
        TableAsset(
            COMMITS,
            "Commits of each repository's default branch, incremental with `since` (one day of "
            "overlap); a repository whose pushed_at did not move is not requested at all.",
            deps=(_REPOSITORIES_KEY,),
        ),
        TableAsset(ISSUES, deps=(_REPOSITORIES_KEY,)),
        TableAsset(PULL_REQUESTS, deps=(_REPOSITORIES_KEY,)),
        *(TableAsset(t) for t in DATA_TABLES),
    ],
    sync=sync,
    resource_key="github",
    configured=lambda resource: resource.configured,
    not_configured_reason=lambda resource: resource.not_configured_reason(),
    setup_hint="GITHUB_TOKEN and GITHUB_OWNERS and/or GITHUB_REPOSITORIES",
    checks=_CHECKS,
    description="GitHub: repositories, default-branch commits, issues and pull requests (newest-updated "
    "first with an ETag on page 1, stopping at the stored cursor), and the ChittyOS data repository "
    "(GITHUB_DATA_REPOSITORY: consolidated/<project>/state.json, todos/<project>/todos.json, "
    "projects/*.json). A no-change re-sync costs only 304s.",
)

GITHUB_ASSETS: list[dg.AssetsDefinition] = [github_sync]
GITHUB_CHECKS: list[dg.AssetChecksDefinition] = []  # evaluated inside github_sync's step

# Resources come from the platform registry (definitions.py), one per resource key.
defs = dg.Definitions(assets=GITHUB_ASSETS)
