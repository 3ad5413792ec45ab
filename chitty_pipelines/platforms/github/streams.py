"""GitHub extraction without Dagster: repositories, commits, issues and pull requests.

Each function reads the stream's stored cursors, talks to GitHub through ``GitHubClient`` and
returns a ``Batch`` (rows, cursors, rejects) that the platform's sync (``assets.sync``) commits in
one transaction and reports per table as a ``TableResult``. The benchmark calls the same functions.

How a no-change re-sync stays free (304s do not count against the rate limit):

* repository listings: every page URL keeps its ETag and its ``next`` link; a 304 page is known
  unchanged (sorted by full_name, so one changed repository only changes its own page);
* commits: a repository whose ``pushed_at`` and default branch did not move is not asked at all;
  otherwise ``since`` = last commit date minus a day (rebased commits keep old dates);
* issues: one URL per repository, newest-updated first, whose page 1 carries an ETag: any update
  changes page 1, so an unchanged repository answers 304; on a 200 reading stops at the stored
  cursor (minus an overlap), so k changes cost O(k).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, TypeVar
from urllib.parse import quote as urlquote
from urllib.parse import urlencode

from chitty_pipelines.kernel.platform_asset import TableResult
from chitty_pipelines.platforms.github.resource import GitHubClient, GitHubError
from chitty_pipelines.platforms.github.tables import (
    COMMITS,
    ISSUES,
    PLATFORM,
    PULL_REQUESTS,
    REPOSITORIES,
    commit_row,
    is_pull_request,
    issue_row,
    repo_row,
    ts,
)
from chitty_pipelines.warehouse import Reject, TableSpec, Warehouse

COMMITS_LAG = timedelta(days=1)  # rebased/cherry-picked commits can carry older dates
ISSUES_LAG = timedelta(minutes=5)  # updated_at is server time; a small overlap covers equal stamps
T = TypeVar("T")


@dataclass
class Batch:
    """What one stream's sync will commit, all in one transaction."""

    stream: str
    rows: dict[TableSpec, list[dict[str, Any]]] = field(default_factory=dict)
    cursors: dict[str, Any] = field(default_factory=dict)
    replace_cursors: bool = False  # drop the stream's other cursors (pages that no longer exist)
    deletes: list[tuple[TableSpec, str, list[Any]]] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def add(self, table: TableSpec, rows: Iterable[dict[str, Any]]) -> None:
        self.rows.setdefault(table, []).extend(rows)

    def result(
        self, table: TableSpec, client: GitHubClient | None = None, *, reads: bool = True
    ) -> TableResult:
        """What this batch did to ``table`` (the request counts are the stream's client's).
        ``reads=False``: another table of the same batch carries the bytes read (counted once)."""
        extra: dict[str, Any] = {"configured": True, **self.extra}
        if client is not None:
            extra.update(
                requests=client.requests_made,
                not_modified_304=client.statuses.get(304, 0),
                rate_limit_wait_s=round(client.gate.waited_s, 3),
            )
        return TableResult(
            table,
            rows_written=len(self.rows.get(table, [])),
            bytes_read=client.bytes_read if client and reads else 0,
            rejects=len(self.rejects),
            metadata=extra,
        )


def commit_batches(warehouse: Warehouse, run_id: str | None, *batches: Batch) -> None:
    with warehouse.transaction(run_id) as tx:
        for b in batches:
            for table, column, values in b.deletes:
                tx.delete_where(table, column, values)
            for table, rows in b.rows.items():
                tx.ensure(table)
                tx.upsert(table, rows)
            if b.replace_cursors:
                tx.clear_cursors(PLATFORM, b.stream)
            if b.cursors:
                tx.set_cursors(PLATFORM, b.stream, b.cursors)
            tx.add_rejects(b.rejects)


def parallel(fn: Callable[[Any], T], items: list[Any], workers: int) -> list[T]:
    if workers <= 1 or len(items) <= 1:
        return [fn(i) for i in items]
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="github") as pool:
        return list(pool.map(fn, items))


def _reject(stream: str, source: str, location: str, reason: str, excerpt: Any = "") -> Reject:
    return Reject(PLATFORM, stream, source, location, reason, str(excerpt)[:300])


def _status(exc: BaseException) -> int | None:
    from github import GithubException  # PyGithub is imported by the steps that call GitHub

    return exc.status if isinstance(exc, GithubException) else None


# --- repositories ------------------------------------------------------------------------------
def _owner_listing(client: GitHubClient, owner: str, stored: dict[str, Any]) -> str:
    """Which listing shows all of an owner's repositories (resolved once, then remembered)."""
    known = stored.get(f"owner:{owner}")
    if known:
        return known
    try:
        kind = client.get(f"/users/{urlquote(owner)}").data.get("type")
    except Exception as exc:
        if _status(exc) == 404:  # a typo in the setting, not a GitHub outage: say which one
            raise GitHubError(
                f"GitHub has no user or organisation {owner!r} (404 at {client.base_url}): check "
                "GITHUB_OWNERS (logins, comma-separated; GITHUB_BASE_URL for GitHub Enterprise)"
            ) from None
        raise
    if kind == "Organization":
        return f"/orgs/{urlquote(owner)}/repos?type=all&"
    if client.authenticated_login().lower() == owner.lower():
        return "/user/repos?affiliation=owner&"  # includes the user's private repositories
    return f"/users/{urlquote(owner)}/repos?type=owner&"


def sync_repositories(
    client: GitHubClient,
    owners: list[str],
    repositories: list[str],
    stored: dict[str, Any],
    full_refresh: bool = False,
) -> Batch:
    from github import GithubException

    batch = Batch("repositories", replace_cursors=True)
    etags = {} if full_refresh else stored
    for owner in owners:
        base = _owner_listing(client, owner, stored)
        batch.cursors[f"owner:{owner}"] = base
        key: str | None = base + urlencode(
            {"per_page": client.per_page, "sort": "full_name", "direction": "asc"}
        )
        while key:
            prev = etags.get(key)
            reply = client.get(key, etag=prev["etag"] if prev else None)
            if reply.not_modified:
                batch.cursors[key] = prev
                key = prev.get("next")
                continue
            batch.cursors[key] = {"etag": reply.etag, "next": reply.next_url}
            batch.add(REPOSITORIES, _repo_rows(batch, reply.data or [], key))
            key = reply.next_url
    for full_name in repositories:
        key = f"/repos/{full_name}"
        prev = etags.get(key)
        try:
            reply = client.get(key, etag=prev["etag"] if prev else None)
        except GithubException as exc:
            if _status(exc) != 404:
                raise
            batch.rejects.append(
                _reject("repositories", full_name, "GET", "repository not found or no access")
            )
            # The other repositories still sync; the step fails at its end naming the setting.
            batch.extra.setdefault("missing_repositories", []).append(full_name)
            continue
        batch.cursors[key] = prev if reply.not_modified else {"etag": reply.etag, "next": None}
        if not reply.not_modified:
            batch.add(REPOSITORIES, _repo_rows(batch, [reply.data], key))
    return batch


def _repo_rows(batch: Batch, items: list[Any], source: str) -> list[dict[str, Any]]:
    rows = []
    for n, item in enumerate(items):
        try:
            rows.append(repo_row(item))
        except (KeyError, TypeError, ValueError) as exc:
            batch.rejects.append(
                _reject("repositories", source, f"item {n}", f"bad repository: {exc!r}", item)
            )
    return rows


@dataclass(frozen=True)
class RepoRef:
    full_name: str
    default_branch: str | None
    pushed_at: str | None


def configured_repos(warehouse: Warehouse, owners: list[str], repositories: list[str]) -> list[RepoRef]:
    """The repositories the last repositories sync found for the configured owners and names."""
    if not warehouse.table_exists(REPOSITORIES.schema, REPOSITORIES.name):
        return []
    found = warehouse.rows(
        "SELECT full_name, default_branch, "
        f"strftime(pushed_at AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%SZ') AS p "
        f"FROM {REPOSITORIES.sql_name} WHERE lower(owner) IN (SELECT unnest(?)) "
        "OR lower(full_name) IN (SELECT unnest(?)) ORDER BY full_name",
        [[o.lower() for o in owners] or [""], [r.lower() for r in repositories] or [""]],
    )
    return [RepoRef(f, b, p) for f, b, p in found]


def current_repos(
    warehouse: Warehouse, owners: list[str], repositories: list[str], fresh: Batch | None = None
) -> list[RepoRef]:
    """The repositories the per-repository streams read: the stored list, updated with the rows
    of a repositories batch read in this run (committed or not: when the repositories table is
    not selected its batch is not written, yet its changed pages still carry the new pushed_at)."""
    refs = {r.full_name: r for r in configured_repos(warehouse, owners, repositories)}
    for row in fresh.rows.get(REPOSITORIES, []) if fresh else []:
        refs[row["full_name"]] = RepoRef(row["full_name"], row["default_branch"], _iso(row["pushed_at"]))
    return [refs[name] for name in sorted(refs)]


# What a per-repository read returns: the repository, its new cursor (None: keep none), its
# rows and a reject, if it could not be read.
RepoResult = tuple[RepoRef, dict[str, Any] | None, list[dict[str, Any]], Reject | None]


def _per_repo(
    batch: Batch, one: Callable[[RepoRef], RepoResult], repos: list[RepoRef], workers: int
) -> Iterator[tuple[RepoRef, list[dict[str, Any]]]]:
    """Reads every repository with ``one`` in parallel, keeps each new cursor and reject in the
    batch, and yields each repository's rows (in repository order, after its cursor)."""
    for repo, state, rows, reject in parallel(one, repos, workers):
        if state is not None:
            batch.cursors[repo.full_name] = state
        if reject:
            batch.rejects.append(reject)
        yield repo, rows


# --- commits -----------------------------------------------------------------------------------
def sync_commits(
    client: GitHubClient,
    repos: list[RepoRef],
    stored: dict[str, Any],
    full_refresh: bool = False,
    workers: int = 4,
) -> Batch:
    from github import GithubException

    batch = Batch("commits")
    batch.cursors.update({} if full_refresh else stored)

    def one(repo: RepoRef) -> RepoResult:
        st = None if full_refresh else stored.get(repo.full_name)
        branch = repo.default_branch
        if not branch:
            return repo, st, [], None
        same_branch = bool(st) and st.get("branch") == branch
        if same_branch and st.get("pushed_at") == repo.pushed_at:
            return repo, st, [], None  # nothing pushed since: not even a conditional request
        params: dict[str, Any] = {"sha": branch, "per_page": client.per_page}
        max_date = st.get("max_date") if same_branch else None
        if max_date:
            params["since"] = (ts(max_date) - COMMITS_LAG).strftime("%Y-%m-%dT%H:%M:%SZ")
        key = f"/repos/{repo.full_name}/commits?{urlencode(params)}"
        etag = st.get("etag") if same_branch and st.get("key") == key else None
        try:
            reply = client.get(key, etag=etag)
        except GithubException as exc:
            if _status(exc) == 409:  # "Git Repository is empty."
                return repo, {"branch": branch, "pushed_at": repo.pushed_at}, [], None
            if _status(exc) == 404:
                return (
                    repo,
                    st,
                    [],
                    _reject("commits", repo.full_name, key, "repository not found or no access"),
                )
            raise
        if reply.not_modified:
            return repo, {**st, "pushed_at": repo.pushed_at}, [], None
        items = list(reply.data or [])
        nxt = reply.next_url
        while nxt:
            page = client.get(nxt)
            items.extend(page.data or [])
            nxt = page.next_url
        rows = [commit_row(repo.full_name, branch, c) for c in items]
        dates = [r["committer_date"] for r in rows if r["committer_date"]] + (
            [ts(max_date)] if max_date else []
        )
        newest = max(dates).strftime("%Y-%m-%dT%H:%M:%SZ") if dates else None
        return (
            repo,
            {
                "branch": branch,
                "pushed_at": repo.pushed_at,
                "max_date": newest,
                "key": key,
                "etag": reply.etag,
            },
            rows,
            None,
        )

    read = 0
    for _repo, rows in _per_repo(batch, one, repos, workers):
        if rows:
            read += 1
            batch.add(COMMITS, rows)
    batch.extra["repositories_read"] = read
    return batch


# --- issues and pull requests ------------------------------------------------------------------
def sync_issues(
    client: GitHubClient,
    repos: list[RepoRef],
    stored: dict[str, Any],
    full_refresh: bool = False,
    workers: int = 4,
) -> Batch:
    from github import GithubException

    batch = Batch("issues")
    batch.cursors.update({} if full_refresh else stored)

    def one(repo: RepoRef) -> RepoResult:
        st = None if full_refresh else stored.get(repo.full_name)
        anchor = st.get("anchor") if st else None
        params: dict[str, Any] = {
            "state": "all",
            "sort": "updated",
            "direction": "desc",
            "per_page": client.per_page,
        }
        if anchor:
            params["since"] = anchor
        key = f"/repos/{repo.full_name}/issues?{urlencode(params)}"
        try:
            reply = client.get(key, etag=st.get("etag") if st else None)
        except GithubException as exc:
            if _status(exc) in (404, 410):  # gone, or issues disabled
                return (
                    repo,
                    st,
                    [],
                    _reject("issues", repo.full_name, key, f"issues not readable ({exc.status})"),
                )
            raise
        if reply.not_modified:
            return repo, st, [], None
        stop_at = ts(st["max_updated"]) - ISSUES_LAG if st and st.get("max_updated") else None
        items = list(reply.data or [])
        nxt = reply.next_url
        # Newest first: once a page ends before the stored cursor, the rest is unchanged.
        while nxt and not (stop_at and _oldest(items) is not None and _oldest(items) < stop_at):
            page = client.get(nxt)
            items.extend(page.data or [])
            nxt = page.next_url
        if stop_at:
            items = [i for i in items if (ts(i.get("updated_at")) or stop_at) >= stop_at]
        updated = [ts(i.get("updated_at")) for i in items] + (
            [ts(st["max_updated"])] if st and st.get("max_updated") else []
        )
        newest = max((u for u in updated if u), default=None)
        state = {"anchor": anchor, "etag": reply.etag, "max_updated": _iso(newest)}
        seen = ts(st.get("max_updated")) if st else None
        changed = sum(1 for i in items if seen is None or (ts(i.get("updated_at")) or seen) > seen)
        if st and changed >= client.per_page and newest:
            # The changes outgrew a page: move ``since`` up so later reads stay short; the next
            # request is unconditional once.
            state = {"anchor": _iso(newest - ISSUES_LAG), "etag": None, "max_updated": _iso(newest)}
        return repo, state, items, None

    read = 0
    for repo, items in _per_repo(batch, one, repos, workers):
        read += bool(items)
        for n, item in enumerate(items):
            try:
                row = issue_row(repo.full_name, item)
            except (KeyError, TypeError, ValueError) as exc:
                batch.rejects.append(
                    _reject("issues", repo.full_name, f"item {n}", f"bad issue: {exc!r}", item)
                )
                continue
            batch.add(PULL_REQUESTS if is_pull_request(item) else ISSUES, [row])
    batch.extra["repositories_read"] = read
    return batch


def _oldest(items: list[dict[str, Any]]) -> Any:
    stamps = [t for t in (ts(i.get("updated_at")) for i in items) if t]
    return min(stamps) if stamps else None


def _iso(value: Any) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else None
