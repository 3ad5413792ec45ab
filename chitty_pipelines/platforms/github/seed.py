"""Seeds for the GitHub fake: a small organisation whose every value is known (tests, demo) and
a synthetic organisation of any size (benchmark)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from chitty_pipelines.platforms.github.fake import EPOCH, GitHubFake

T0 = datetime(2026, 3, 1, tzinfo=UTC)
DATA_REPO = "chittyos/chittychat-data"

STATE_ALPHA = {
    "projectName": "alpha",
    "projectPath": "/work/alpha",
    "totalSessions": 3,
    "sessions": [{"sessionId": "s1"}, {"sessionId": "s2"}, {"sessionId": "s3"}],
    "lastActivity": "2026-03-02T10:00:00Z",
    "consolidatedAt": "2026-03-02T11:00:00Z",
    "dataType": "consolidated-state",
    "syncedAt": "2026-03-02T12:00:00Z",
}
TODOS_ALPHA = {
    "projectName": "alpha",
    "todos": [
        {"content": "write tests", "status": "in_progress", "activeForm": "Writing tests"},
        {"content": "ship it", "status": "pending", "activeForm": "Shipping it"},
        "not a todo",
    ],
    "updatedAt": "2026-03-02T09:00:00Z",
}


def day(n: float) -> datetime:
    return T0 + timedelta(days=n)


def seed_example(fake: GitHubFake) -> None:
    """Organisation ``acme`` (4 repositories), ``other/tools`` (listed by name) and the data
    repository ``chittyos/chittychat-data``. Items are two days apart, so the overlap windows
    (one day for commits, five minutes for issues) re-read only the item at the boundary."""
    fake.add_owner("acme", "Organization")
    fake.add_repo("acme/api", topics=["backend", "chittyos"], description="The API", created_at=day(-30))
    fake.add_repo("acme/web", default_branch="trunk", created_at=day(-20))
    fake.add_repo("acme/old", archived=True, created_at=day(-10))
    fake.add_repo("acme/empty", created_at=day(-5))  # no commits: the commits API answers 409
    fake.add_repo("other/tools", private=True, created_at=day(-3))
    fake.add_repo(DATA_REPO, created_at=day(-40))

    fake.add_commit("acme/api", "initial", at=day(0))
    fake.add_commit("acme/api", "add endpoint", at=day(2), author_name="Grace Hopper", login=None)
    fake.add_commit("acme/api", "fix endpoint", at=day(4))
    fake.add_commit("acme/web", "scaffold", at=day(1))
    fake.add_commit("acme/web", "style", at=day(3))
    fake.add_commit("acme/old", "last words", at=day(5))
    fake.add_commit("other/tools", "tooling", at=day(6))

    fake.add_issue("acme/api", "Bug in endpoint", labels=["bug"], at=day(1))
    fake.add_issue("acme/api", "Fix endpoint", pull_request=True, at=day(3))
    fake.add_issue("acme/api", "Docs", at=day(5))
    fake.update_issue("acme/api", 1, state="closed", at=day(7))
    fake.add_issue("acme/web", "Dark mode", labels=["ui", "feature"], at=day(2))
    fake.add_issue("other/tools", "Add linter", pull_request=True, at=day(4))
    fake.update_issue("other/tools", 1, state="closed", merged=True, at=day(6))

    fake.put_file(DATA_REPO, "consolidated/alpha/state.json", STATE_ALPHA, at=day(1))
    fake.put_file(DATA_REPO, "consolidated/beta/state.json", "{not json", at=day(1))
    fake.put_file(DATA_REPO, "todos/alpha/todos.json", TODOS_ALPHA, at=day(1))
    fake.put_file(DATA_REPO, "projects/alpha.json", {"id": "alpha", "name": "Alpha"}, at=day(1))
    fake.put_file(DATA_REPO, "projects/README.md", "# projects", at=day(1))
    fake.clock = day(10)


def seed_org(
    fake: GitHubFake,
    org: str,
    repos: int,
    *,
    commits_per_repo: int = 3,
    issues_per_repo: int = 2,
    pr_every: int = 3,
) -> list[str]:
    """A synthetic organisation with history. Items are two hours apart within a repository.
    Deterministic."""
    fake.add_owner(org, "Organization")
    names = []
    for i in range(repos):
        full = f"{org}/repo-{i:04d}"
        fake.add_repo(full, topics=["chittyos", f"t{i % 5}"], archived=(i % 17 == 16), created_at=EPOCH)
        base = EPOCH + timedelta(days=1, minutes=i)
        for j in range(commits_per_repo):
            fake.add_commit(full, f"commit {j} of {full}", at=base + timedelta(hours=2 * j))
        for j in range(issues_per_repo):
            is_pr = j % pr_every == pr_every - 1
            fake.add_issue(
                full, f"issue {j} of {full}", pull_request=is_pr, at=base + timedelta(hours=2 * j + 1)
            )
        names.append(full)
    fake.clock = EPOCH + timedelta(days=30) + timedelta(hours=2 * max(commits_per_repo, issues_per_repo))
    return names
