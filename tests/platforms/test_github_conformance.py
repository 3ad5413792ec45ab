"""Real recorded GitHub responses (../shared/samples/github), served by the fake with their URLs
rewritten to it, read by the same sync code the assets run."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from github import GithubException

from chitty_pipelines.platforms.github.fake import GitHubFake
from chitty_pipelines.platforms.github.resource import GitHubClient
from chitty_pipelines.platforms.github.streams import (
    RepoRef,
    sync_commits,
    sync_issues,
    sync_repositories,
)
from chitty_pipelines.platforms.github.tables import COMMITS, ISSUES, PULL_REQUESTS, REPOSITORIES

pytestmark = pytest.mark.conformance
TOKEN = "ghp_conformance"


@pytest.fixture
def fake() -> Iterator[GitHubFake]:
    with GitHubFake(tokens={TOKEN: "octokit-fixture-user-a"}) as f:
        yield f  # type: ignore[misc]


def client(fake: GitHubFake, per_page: int = 100) -> GitHubClient:
    return GitHubClient(TOKEN, fake.api_url, per_page=per_page, requests_per_second=0, retry_max_wait_s=0.01)


def serve_fixture(fake: GitHubFake, path: Path) -> list[dict[str, Any]]:
    entries = json.loads(path.read_text())
    for e in entries:
        if e["method"] == "get":
            fake.add_recorded(e["path"], e["status"], e["response"], e["headers"])
    return entries


def test_paginate_issues_follows_link_headers_to_the_numeric_repository_path(
    fake: GitHubFake, samples: Path
) -> None:
    serve_fixture(fake, samples / "github/octokit-fixtures/paginate-issues.normalized-fixture.json")
    repo = RepoRef("octokit-fixture-org/paginate-issues", "master", None)
    batch = sync_issues(client(fake, per_page=3), [repo], {})
    numbers = [r["number"] for r in batch.rows[ISSUES]]
    assert numbers == list(range(13, 0, -1))
    assert PULL_REQUESTS not in batch.rows and batch.rejects == []
    first = batch.rows[ISSUES][0]
    assert (first["title"], first["state"], first["comments"], first["user_login"]) == (
        "Test issue 13",
        "open",
        42,
        "octokit-fixture-user-a",
    )
    assert first["created_at"] == datetime(2017, 10, 10, 16, tzinfo=UTC)
    # pages 2-5 were fetched from the Link URLs exactly as given (/repositories/1000/...)
    paths = [p for p, _, _ in fake.conditional_log]
    assert paths[0].startswith("/repos/octokit-fixture-org/paginate-issues/issues?")
    assert paths[1:] == [f"/repositories/1000/issues?page={n}&per_page=3" for n in (2, 3, 4, 5)]
    # the ETag of page 1 is kept for the next, conditional, poll
    assert batch.cursors[repo.full_name]["etag"].startswith('"')


def test_get_repository_maps_current_fields(fake: GitHubFake, samples: Path) -> None:
    serve_fixture(fake, samples / "github/octokit-fixtures/get-repository.normalized-fixture.json")
    batch = sync_repositories(client(fake), [], ["octokit-fixture-org/hello-world"], {})
    (row,) = batch.rows[REPOSITORIES]
    assert {k: row[k] for k in ("repo_id", "full_name", "owner", "default_branch", "topics", "archived")} == {
        "repo_id": 1000,
        "full_name": "octokit-fixture-org/hello-world",
        "owner": "octokit-fixture-org",
        "default_branch": "master",
        "topics": ["fixtures", "hello", "hello-world"],
        "archived": False,
    }
    assert (row["visibility"], row["stargazers_count"], row["pushed_at"]) == (
        "public",
        42,
        datetime(2017, 10, 10, 16, tzinfo=UTC),
    )
    assert fake.api_url in row["raw"] and "https://api.github.com" not in row["raw"]  # rewritten URLs


def test_old_repository_payload_without_topics_or_visibility(fake: GitHubFake, samples: Path) -> None:
    body = json.loads((samples / "github/octokit-rb-cassettes-decoded/repos-get__00.json").read_text())
    fake.add_recorded("/repos/sferik/rails_admin", 200, body)
    (row,) = sync_repositories(client(fake), [], ["sferik/rails_admin"], {}).rows[REPOSITORIES]
    assert (row["repo_id"], row["default_branch"], row["topics"], row["visibility"], row["archived"]) == (
        810796,
        "master",
        [],
        "public",
        False,
    )


def test_commit_list_cassette(fake: GitHubFake, samples: Path) -> None:
    body = json.loads(
        (samples / "github/octokit-rb-cassettes-decoded/repos-commits-list__00.json").read_text()
    )
    fake.add_recorded("/repos/sferik/rails_admin/commits", 200, body)
    repo = RepoRef("sferik/rails_admin", "master", "2013-06-24T11:50:49Z")
    batch = sync_commits(client(fake), [repo], {})
    rows = batch.rows[COMMITS]
    assert len(rows) == 30 and len({r["sha"] for r in rows}) == 30
    first = rows[0]
    assert (first["sha"], first["author_name"], first["author_email"], first["author_login"]) == (
        "d0af3380182ed7b991a9a23eae3c114b88fe0a14",
        "M.Shibuya",
        "mit.shibuya@gmail.com",
        "mshibuya",
    )
    assert first["committer_date"] == datetime(2013, 6, 24, 11, 50, 20, tzinfo=UTC)
    assert rows[-1]["sha"] == "99a0932e18dfecec394228443f92782123496548"
    assert batch.cursors["sferik/rails_admin"]["max_date"] == "2013-06-24T11:50:20Z"


def test_issue_list_cassette_tells_pull_requests_apart(fake: GitHubFake, samples: Path) -> None:
    body = json.loads(
        (samples / "github/octokit-rb-cassettes-decoded/repos-issues-list__00.json").read_text()
    )
    fake.add_recorded("/repos/sferik/rails_admin/issues", 200, body)
    batch = sync_issues(client(fake), [RepoRef("sferik/rails_admin", "master", None)], {})
    assert sorted(r["number"] for r in batch.rows[PULL_REQUESTS]) == [2703, 2712, 2720, 2724, 2737, 2741]
    assert len(batch.rows[ISSUES]) == 24
    top = next(r for r in batch.rows[ISSUES] if r["number"] == 2746)
    assert (top["title"], top["state"], top["labels"]) == (
        "including Mongoid::Autoinc would not display a model in Rails_admin",
        "open",
        [],
    )
    assert top["updated_at"] == datetime(2016, 10, 20, 14, 46, 1, tzinfo=UTC)


def test_validation_error_envelope_is_raised_not_retried(fake: GitHubFake, samples: Path) -> None:
    entry = json.loads((samples / "github/octokit-fixtures/errors.normalized-fixture.json").read_text())[0]
    fake.add_recorded(entry["path"], entry["status"], entry["response"], entry["headers"])
    with pytest.raises(GithubException) as info:
        client(fake).get(entry["path"])
    assert info.value.status == 422 and info.value.data["message"] == "Validation Failed"
    assert info.value.data["errors"][0]["code"] == entry["response"]["errors"][0]["code"]
    assert len(fake.conditional_log) == 1  # a 422 is the caller's fault: no retry


def test_contents_directory_listing(fake: GitHubFake, samples: Path) -> None:
    serve_fixture(fake, samples / "github/octokit-fixtures/get-content.normalized-fixture.json")
    reply = client(fake).get("/repos/octokit-fixture-org/hello-world/contents/")
    (entry,) = reply.data
    assert (entry["type"], entry["name"], entry["sha"], entry["size"]) == (
        "file",
        "README.md",
        "93a078d1c3f76aa1ca11def8f882a06df1d4a01b",
        13,
    )
    # the git blob sha of "# hello-world": the fake computes folder entries the same way
    from chitty_pipelines.platforms.github.fake import git_blob_sha

    assert git_blob_sha(b"# hello-world") == entry["sha"]
