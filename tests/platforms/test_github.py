"""GitHub platform against the fake REST server, through the real Dagster runtime: exact tables,
free no-change re-syncs (only 304s), O(k) re-reads after k upstream changes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import dagster as dg
import pytest

from chitty_pipelines.platforms.github.assets import GITHUB_ASSETS
from chitty_pipelines.platforms.github.fake import GitHubFake, git_blob_sha
from chitty_pipelines.platforms.github.resource import GitHubResource
from chitty_pipelines.platforms.github.seed import DATA_REPO, TODOS_ALPHA, day, seed_example
from chitty_pipelines.platforms.github.tables import REPOSITORIES
from chitty_pipelines.warehouse import Warehouse
from chitty_pipelines.warehouse.resource import WarehouseResource
from tests.platforms.platform_support import failure_text

TOKEN = "ghp_fake_token"


@pytest.fixture
def fake() -> Iterator[GitHubFake]:
    with GitHubFake(tokens={TOKEN: "octo-user"}) as f:
        seed_example(f)
        yield f  # type: ignore[misc]


def resource(fake: GitHubFake, **kw: Any) -> GitHubResource:
    settings: dict[str, Any] = {
        "token": TOKEN,
        "base_url": fake.api_url,
        "owners": ["acme"],
        "repositories": ["other/tools"],
        "data_repository": DATA_REPO,
        "per_page": 2,  # small pages so every listing paginates through Link headers
        "requests_per_second": 0,
        "retry_max_wait_s": 0.01,
        **kw,
    }
    return GitHubResource(**settings)


def sync(
    gh: GitHubResource, wh: WarehouseResource, checks: bool = False, **kw: Any
) -> dg.ExecuteInProcessResult:
    """Materialize the GitHub assets (and their checks when asked: they run in the same step,
    after the data)."""
    selection = (
        dg.AssetSelection.assets(*kw.pop("selection")) if "selection" in kw else dg.AssetSelection.all()
    )
    selection = selection if checks else selection.without_checks()
    return dg.materialize(GITHUB_ASSETS, resources={"github": gh, "warehouse": wh}, selection=selection, **kw)


def rows(wh: Warehouse, sql: str) -> list[tuple[Any, ...]]:
    with wh.connect() as con:
        return con.execute(sql).fetchall()


def meta(result: dg.ExecuteInProcessResult, table: str) -> dict[str, Any]:
    for event in result.get_asset_materialization_events():
        mat = event.event_specific_data.materialization  # type: ignore[union-attr]
        if mat and mat.asset_key == dg.AssetKey(["raw_github", table]):
            return {k: getattr(v, "value", v) for k, v in mat.metadata.items()}
    raise KeyError(table)


def test_full_sync_gives_exact_tables(
    fake: GitHubFake, warehouse_resource: WarehouseResource, warehouse: Warehouse
) -> None:
    result = sync(resource(fake), warehouse_resource, checks=True)
    assert result.success
    assert {method for method, _, _ in fake.log} == {"GET"}  # nothing is ever written to GitHub
    assert rows(
        warehouse,
        "SELECT full_name, default_branch, archived, private, topics, description, "
        "strftime(pushed_at, '%Y-%m-%d') FROM raw_github.repositories ORDER BY full_name",
    ) == [
        ("acme/api", "main", False, False, ["backend", "chittyos"], "The API", "2026-03-05"),
        ("acme/empty", "main", False, False, [], None, "2026-01-01"),
        ("acme/old", "main", True, False, [], None, "2026-03-06"),
        ("acme/web", "trunk", False, False, [], None, "2026-03-04"),
        ("other/tools", "main", False, True, [], None, "2026-03-07"),
    ]
    commits = rows(
        warehouse,
        "SELECT repo_full_name, sha, branch, message, author_name, author_login, committer_date, "
        "len(parents) FROM raw_github.commits ORDER BY repo_full_name, committer_date",
    )
    expected = []
    for repo in ("acme/api", "acme/old", "acme/web", "other/tools"):
        for c in fake.repos[repo].commits:
            branch = fake.repos[repo].default_branch
            expected.append(
                (
                    repo,
                    c["sha"],
                    branch,
                    c["message"],
                    c["author_name"],
                    c["login"],
                    c["date"],
                    int(bool(c["parent"])),
                )
            )
    assert [c[:7] for c in commits] == [e[:7] for e in expected] and len(commits) == 7
    assert [c[3] for c in commits] == [
        "initial",
        "add endpoint",
        "fix endpoint",
        "last words",
        "scaffold",
        "style",
        "tooling",
    ]
    assert commits[1][4:6] == ("Grace Hopper", None)  # e-mail not linked to a GitHub account
    assert [c[7] for c in commits] == [0, 1, 1, 0, 0, 1, 0]

    assert rows(
        warehouse,
        "SELECT repo_full_name, number, title, state, labels, closed_at IS NOT NULL FROM raw_github.issues "
        "ORDER BY ALL",
    ) == [
        ("acme/api", 1, "Bug in endpoint", "closed", ["bug"], True),
        ("acme/api", 3, "Docs", "open", [], False),
        ("acme/web", 1, "Dark mode", "open", ["ui", "feature"], False),
    ]
    assert rows(
        warehouse,
        "SELECT repo_full_name, number, title, state, merged_at, draft "
        "FROM raw_github.pull_requests ORDER BY ALL",
    ) == [
        ("acme/api", 2, "Fix endpoint", "open", None, False),
        ("other/tools", 1, "Add linter", "closed", day(6), False),
    ]

    assert rows(
        warehouse,
        "SELECT project, project_name, project_path, data_type, total_sessions, last_activity, path "
        "FROM raw_github.project_states",
    ) == [
        (
            "alpha",
            "alpha",
            "/work/alpha",
            "consolidated-state",
            3,
            datetime(2026, 3, 2, 10, tzinfo=UTC),
            "consolidated/alpha/state.json",
        )
    ]
    assert rows(
        warehouse,
        "SELECT project, position, content, status, active_form FROM raw_github.project_todos ORDER BY ALL",
    ) == [
        ("alpha", 0, "write tests", "in_progress", "Writing tests"),
        ("alpha", 1, "ship it", "pending", "Shipping it"),
    ]
    assert rows(warehouse, "SELECT project_id, name, path FROM raw_github.projects") == [
        ("alpha", "Alpha", "projects/alpha.json")
    ]
    state_sha = git_blob_sha(fake.repos[DATA_REPO].files["consolidated/alpha/state.json"])
    assert rows(warehouse, "SELECT sha FROM raw_github.project_states") == [(state_sha,)]
    # beta's bad JSON and the non-object todo are rejects, not failures
    assert rows(warehouse, "SELECT stream, source, location, reason FROM ops.rejects ORDER BY source") == [
        ("chittychat_data", f"{DATA_REPO}/consolidated/beta/state.json", "line 1", "invalid JSON: "
         "Expecting property name enclosed in double quotes"),
        ("chittychat_data", f"{DATA_REPO}/todos/alpha/todos.json", "todos[2]", "todo without text content"),
    ]  # fmt: skip
    m = meta(result, "project_states")
    assert (m["rejects"], m["dagster/row_count"], m["configured"]) == (2, 1, True)
    assert meta(result, "repositories")["dagster/row_count"] == 5
    assert meta(result, "commits")["rows_written"] == 7
    # One client's reading per stream, counted once: on its first table, 0 on the others.
    assert meta(result, "issues")["bytes_read"] > 0 and meta(result, "pull_requests")["bytes_read"] == 0
    assert meta(result, "project_states")["bytes_read"] > 0
    assert meta(result, "project_todos")["bytes_read"] == meta(result, "projects")["bytes_read"] == 0
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks["github_token_valid"] is True
    assert checks["chittychat_data_rejects"] is False  # a WARN: the two rejects above
    assert all(v for k, v in checks.items() if k.endswith("_unique_key"))
    status = rows(warehouse, "SELECT asset, status FROM ops.sync_log ORDER BY asset")
    assert len(status) == 7 and {s for _, s in status} == {"success"}
    assert status[0][0] == "raw_github/commits"  # the asset key string


def test_no_change_resync_makes_only_conditional_requests_answered_304(
    fake: GitHubFake, warehouse_resource: WarehouseResource, warehouse: Warehouse
) -> None:
    gh = resource(fake)
    assert sync(gh, warehouse_resource).success
    before = rows(warehouse, "SELECT * EXCLUDE (raw) FROM raw_github.issues ORDER BY ALL")
    budget = fake.rate_remaining
    fake.conditional_log.clear()

    result = sync(gh, warehouse_resource, checks=True)
    assert result.success
    # GET /rate_limit is the health check: it never counts against the limit.
    log = [entry for entry in fake.conditional_log if not entry[0].startswith("/rate_limit")]
    assert log and all(conditional and status == 304 for _, conditional, status in log), log
    paths = sorted(p.split("?")[0] for p, _, _ in log)
    assert paths == sorted(
        ["/orgs/acme/repos"] * 2  # 4 repositories at 2 per page
        + ["/repos/other/tools"]
        + [f"/repos/{r}/issues" for r in ("acme/api", "acme/empty", "acme/old", "acme/web", "other/tools")]
        + [f"/repos/{DATA_REPO}/contents/{d}" for d in ("consolidated", "todos", "projects")]
    )  # and no commits request at all: no repository's pushed_at moved
    assert fake.rate_remaining == budget  # nothing spent
    assert all(
        meta(result, t)["rows_written"] == 0 for t in ("repositories", "commits", "issues", "projects")
    )
    assert rows(warehouse, "SELECT * EXCLUDE (raw) FROM raw_github.issues ORDER BY ALL") == before


def test_k_upstream_changes_are_picked_up_and_nothing_else_is_reread(
    fake: GitHubFake, warehouse_resource: WarehouseResource, warehouse: Warehouse
) -> None:
    gh = resource(fake, per_page=3)  # acme/api's three issues on one page
    assert sync(gh, warehouse_resource).success
    untouched = rows(
        warehouse,
        "SELECT * EXCLUDE (raw) FROM raw_github.commits WHERE repo_full_name <> 'acme/web' ORDER BY ALL",
    )

    new_sha = fake.add_commit("acme/web", "responsive layout", at=day(12))
    fake.update_issue("acme/api", 3, title="Docs for v2", at=day(13))
    todos = {
        **TODOS_ALPHA,
        "todos": [{"content": "write tests", "status": "completed", "activeForm": "Writing"}],
    }
    fake.put_file(DATA_REPO, "todos/alpha/todos.json", todos, at=day(13))
    fake.conditional_log.clear()

    result = sync(gh, warehouse_resource)
    assert result.success
    answered = sorted(p for p, _, status in fake.conditional_log if status == 200 and "rate_limit" not in p)
    assert answered == [
        "/orgs/acme/repos?direction=asc&page=2&per_page=3&sort=full_name&type=all",  # acme/web's page
        "/repos/acme/api/issues?direction=desc&per_page=3&sort=updated&state=all",
        "/repos/acme/web/commits?per_page=3&sha=trunk&since=2026-03-03T00%3A00%3A00Z",
        f"/repos/{DATA_REPO}/contents/todos",
        f"/repos/{DATA_REPO}/contents/todos/alpha/todos.json",
    ]
    assert all(status in (200, 304) for _, _, status in fake.conditional_log)
    # the new commit plus the one at the one-day overlap boundary; the issue plus its predecessor
    assert meta(result, "commits")["rows_written"] == 2
    assert meta(result, "issues")["rows_written"] == 2
    assert rows(warehouse, f"SELECT message FROM raw_github.commits WHERE sha = '{new_sha}'") == [
        ("responsive layout",)
    ]
    assert rows(
        warehouse, "SELECT title FROM raw_github.issues WHERE repo_full_name='acme/api' AND number=3"
    ) == [("Docs for v2",)]
    assert rows(warehouse, "SELECT position, content, status FROM raw_github.project_todos") == [
        (0, "write tests", "completed")
    ]
    assert rows(warehouse, "SELECT count(*) FROM raw_github.commits") == [(8,)]
    assert untouched == rows(
        warehouse,
        "SELECT * EXCLUDE (raw) FROM raw_github.commits WHERE repo_full_name <> 'acme/web' ORDER BY ALL",
    )
    # and the following no-change sync is free again
    fake.conditional_log.clear()
    assert sync(gh, warehouse_resource).success
    assert {s for p, _, s in fake.conditional_log if "rate_limit" not in p} == {304}


def test_full_refresh_rereads_everything_without_duplicates(
    fake: GitHubFake, warehouse_resource: WarehouseResource, warehouse: Warehouse
) -> None:
    gh = resource(fake)
    assert sync(gh, warehouse_resource).success
    fake.conditional_log.clear()
    result = sync(gh, warehouse_resource, tags={"chitty/full_refresh": "true"})
    assert result.success
    assert not any(conditional for _, conditional, _ in fake.conditional_log)
    assert meta(result, "commits")["rows_written"] == 7
    assert rows(warehouse, "SELECT count(*) FROM raw_github.commits") == [(7,)]
    assert rows(warehouse, "SELECT count(*) FROM raw_github.project_todos") == [(2,)]


def test_missing_repository_syncs_the_others_then_fails_naming_github_repositories(
    fake: GitHubFake, warehouse_resource: WarehouseResource, warehouse: Warehouse
) -> None:
    """A repository of GITHUB_REPOSITORIES that does not exist is a setting to fix (like a wrong
    owner): every other repository lands, then the step fails naming the variable."""
    result = sync(
        resource(fake, repositories=["other/tools", "other/gone"]), warehouse_resource, raise_on_error=False
    )
    assert not result.success
    text = failure_text(result)
    assert "other/gone" in text and "check GITHUB_REPOSITORIES" in text
    assert rows(
        warehouse, "SELECT stream, source, reason FROM ops.rejects WHERE stream = 'repositories'"
    ) == [("repositories", "other/gone", "repository not found or no access")]
    assert warehouse.row_count(REPOSITORIES) == 5
    assert rows(warehouse, "SELECT count(*) FROM raw_github.commits") == [(7,)]
    # What landed is recorded; the sync log (what status shows) says the step failed, and why.
    assert meta(result, "repositories")["rejects"] == 1
    assert rows(warehouse, "SELECT DISTINCT status FROM ops.sync_log") == [("failed",)]


def test_a_subset_runs_only_the_streams_it_needs(
    fake: GitHubFake, warehouse_resource: WarehouseResource, warehouse: Warehouse
) -> None:
    """One step for the platform; commits alone read commits, and the repository list they need
    (conditionally: it is how they learn that pushed_at moved), without writing repositories."""
    gh = resource(fake)
    assert sync(gh, warehouse_resource).success
    stored = rows(warehouse, "SELECT * EXCLUDE (raw) FROM raw_github.repositories ORDER BY ALL")
    fake.add_commit("acme/web", "responsive layout", at=day(12))  # moves acme/web's pushed_at
    fake.conditional_log.clear()
    result = sync(gh, warehouse_resource, selection=[dg.AssetKey(["raw_github", "commits"])])
    assert result.success
    assert {p.split("?")[0] for p, _, _ in fake.conditional_log} == {
        "/orgs/acme/repos",  # two pages: 304, then 200 for the page with acme/web
        "/repos/other/tools",  # 304
        "/repos/acme/web/commits",  # the only repository whose pushed_at moved
    }
    assert [e.asset_key.path[-1] for e in result.get_asset_materialization_events()] == ["commits"]
    assert meta(result, "commits")["rows_written"] == 2  # the new commit and the overlap's
    assert rows(warehouse, "SELECT * EXCLUDE (raw) FROM raw_github.repositories ORDER BY ALL") == stored
    logged = rows(warehouse, f"SELECT asset FROM ops.sync_log WHERE run_id = '{result.run_id}'")
    assert logged == [("raw_github/commits",)]
