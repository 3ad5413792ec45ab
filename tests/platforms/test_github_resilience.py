"""GitHub under faults, rate limits, revoked and missing tokens; the token never leaks."""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from chitty_pipelines.kernel.fake_server import Faults
from chitty_pipelines.platforms.github.assets import GITHUB_ASSETS, github_token_valid
from chitty_pipelines.platforms.github.fake import GitHubFake
from chitty_pipelines.platforms.github.health import probe
from chitty_pipelines.platforms.github.resource import GitHubClient, GitHubError, GitHubResource
from chitty_pipelines.platforms.github.seed import DATA_REPO, seed_example, seed_org
from chitty_pipelines.platforms.github.streams import sync_repositories
from chitty_pipelines.platforms.github.tables import REPOSITORIES
from chitty_pipelines.warehouse import Warehouse
from chitty_pipelines.warehouse.resource import WarehouseResource
from tests.warehouse_support import warehouse_resource_at

TOKEN = "ghp_SECRETtoken0123456789abcdefSECRET"
TABLES = ("repositories", "commits", "issues", "pull_requests", "project_states", "project_todos", "projects")


@pytest.fixture
def fake() -> Iterator[GitHubFake]:
    with GitHubFake(tokens={TOKEN: "octo-user"}) as f:
        seed_example(f)
        yield f  # type: ignore[misc]


def resource(fake: GitHubFake, token: Any = TOKEN, **kw: Any) -> GitHubResource:
    settings: dict[str, Any] = {
        "token": token,
        "base_url": fake.api_url,
        "owners": ["acme"],
        "repositories": ["other/tools"],
        "data_repository": DATA_REPO,
        "per_page": 2,
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
    selection = dg.AssetSelection.all() if checks else dg.AssetSelection.all().without_checks()
    return dg.materialize(GITHUB_ASSETS, resources={"github": gh, "warehouse": wh}, selection=selection, **kw)


def error_text(error: Any) -> str:
    """The failure and its causes, as Dagster records them."""
    parts = []
    while error is not None:
        parts.append(error.message)
        error = error.cause or error.context
    return "\n".join(parts)


def snapshot(wh: Warehouse) -> dict[str, list[tuple[Any, ...]]]:
    with wh.connect() as con:
        return {t: con.execute(f"SELECT * FROM raw_github.{t} ORDER BY ALL").fetchall() for t in TABLES}


def test_twenty_percent_injected_faults_give_the_same_tables(fake: GitHubFake, tmp_path: Path) -> None:
    clean = warehouse_resource_at(tmp_path / "clean.duckdb")
    assert sync(resource(fake), clean).success
    fake.faults = Faults(rate=0.2, retry_after_s=0.0, statuses=(429, 403, 500, 502, 503), drop=True, seed=11)
    fake.log.clear()
    faulty = warehouse_resource_at(tmp_path / "faulty.duckdb")
    assert sync(resource(fake, retry_attempts=8), faulty).success
    injected = Counter(status for _, _, status in fake.log if status not in (200, 304, 404, 409))
    assert sum(injected.values()) >= 5 and set(injected) <= {0, 429, 403, 500, 502, 503}, injected
    assert snapshot(faulty.get()) == snapshot(clean.get())
    assert snapshot(clean.get())["commits"]  # the comparison is not between two empty tables


def test_revoked_token_fails_fast_naming_github_token(
    fake: GitHubFake, warehouse_resource: WarehouseResource
) -> None:
    assert sync(resource(fake), warehouse_resource).success
    fake.revoke(TOKEN)
    fake.log.clear()
    result = sync(resource(fake), warehouse_resource, raise_on_error=False)
    assert not result.success
    failures = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    message = error_text(failures[0].step_failure_data.error)  # type: ignore[union-attr]
    assert "GITHUB_TOKEN" in message and "401" in message and TOKEN not in message
    assert len([e for e in fake.log if e[2] == 401]) <= 2  # no retry storm on a 401
    health = probe(resource(fake))
    assert health["ok"] is False and "GITHUB_TOKEN" in health["reason"]
    check = github_token_valid(github=resource(fake))
    assert check.passed is False and "GITHUB_TOKEN" in str(check.metadata["reason"].value)


def test_an_owner_that_does_not_exist_fails_naming_github_owners(
    fake: GitHubFake, warehouse_resource: WarehouseResource
) -> None:
    """A typo in GITHUB_OWNERS: GitHub answers 404 for the owner; the step says which setting."""
    result = sync(resource(fake, owners=["acme", "acme-typo"]), warehouse_resource, raise_on_error=False)
    assert not result.success
    failures = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    message = error_text(failures[0].step_failure_data.error)  # type: ignore[union-attr]
    assert "GITHUB_OWNERS" in message and "'acme-typo'" in message and "404" in message
    assert TOKEN not in message


def test_token_never_appears_in_logs_metadata_rejects_or_errors(
    fake: GitHubFake,
    warehouse_resource: WarehouseResource,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    gh = resource(fake, token=dg.EnvVar("GITHUB_TOKEN"), repositories=["other/tools", "other/gone"])
    fake.faults = Faults(rate=0.2, retry_after_s=0.0, seed=3)
    instance = dg.DagsterInstance.ephemeral()
    caplog.set_level(logging.DEBUG)  # PyGithub logs request headers at DEBUG (masked)
    logging.getLogger("github").setLevel(logging.DEBUG)
    # other/gone: a reject, then (after the rest landed) a failure naming GITHUB_REPOSITORIES.
    landed = sync(gh, warehouse_resource, checks=True, instance=instance, raise_on_error=False)
    fake.revoke(TOKEN)
    failed = sync(gh, warehouse_resource, checks=True, instance=instance, raise_on_error=False)
    assert not landed.success and not failed.success
    assert len(landed.get_asset_materialization_events()) == len(TABLES)  # what landed is recorded
    assert warehouse_resource.get().row_count(REPOSITORIES) == 5
    texts = [caplog.text]
    for run in (landed, failed):
        texts += [str(record) for record in instance.all_logs(run.run_id)]
        for event in run.all_events:
            texts.append(repr(event))
    wh = warehouse_resource.get()
    for table in ("ops.rejects", "ops.sync_log", "ops.sync_cursors"):
        texts.append(wh.query(f"SELECT * FROM {table}").to_csv())
    texts.append(repr(gh.client()) + repr(probe(resource(fake))))
    blob = "\n".join(texts)
    assert "other/gone" in blob and "GITHUB_TOKEN" in blob  # the scan sees rejects and the error
    assert "GitHub GET /repos/" in caplog.text  # retry warnings were captured
    assert '"GET /api/v3/repos/' in caplog.text  # and the HTTP client's request lines
    assert TOKEN not in blob and TOKEN[4:20] not in blob


def test_not_configured_succeeds_with_zero_rows(
    warehouse_resource: WarehouseResource, warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("GITHUB_TOKEN", "GITHUB_OWNERS", "GITHUB_REPOSITORIES", "GITHUB_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    gh = GitHubResource.from_settings()
    assert not gh.configured and gh.token is None
    result = sync(gh, warehouse_resource)
    assert result.success
    mats = result.get_asset_materialization_events()
    assert len(mats) == len(TABLES)
    for event in mats:
        md = event.event_specific_data.materialization.metadata  # type: ignore[union-attr]
        assert md["configured"].value is False and md["dagster/row_count"].value == 0
        assert "GITHUB_TOKEN is not set" in md["reason"].value
    assert warehouse.query("SELECT DISTINCT status FROM ops.sync_log")["status"].tolist() == [
        "not_configured"
    ]
    assert probe(gh) == {"ok": False, "configured": False, "reason": "GITHUB_TOKEN is not set"}
    # a token without owners or repositories is still not configured, and says what is missing
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    assert "GITHUB_OWNERS" in GitHubResource.from_settings().not_configured_reason()


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    monkeypatch.setenv("GITHUB_BASE_URL", "https://ghe.example.com/api/v3")
    monkeypatch.setenv("GITHUB_OWNERS", "acme, chittyos")
    monkeypatch.setenv("GITHUB_REPOSITORIES", "other/tools")
    monkeypatch.delenv("GITHUB_DATA_REPOSITORY", raising=False)
    gh = GitHubResource.from_settings()
    assert (gh.base_url, gh.owners, gh.repositories) == (
        "https://ghe.example.com/api/v3",
        ["acme", "chittyos"],
        ["other/tools"],
    )
    assert gh.data_repo_full_name() == "acme/chittychat-data"
    assert isinstance(GitHubResource.model_fields["token"].annotation, object)


def test_spent_rate_limit_pauses_until_reset_instead_of_failing(tmp_path: Path) -> None:
    with GitHubFake(tokens={TOKEN: "octo-user"}, rate_limit=3) as fake:
        seed_org(fake, "acme", 9, commits_per_repo=0, issues_per_repo=0)
        fake.rate_window_s = 1.0
        fake.rate_reset_at = time.time() + 1.0
        client = GitHubClient(TOKEN, fake.api_url, per_page=2, requests_per_second=0)
        started = time.monotonic()
        batch = sync_repositories(client, ["acme"], [], {})
        elapsed = time.monotonic() - started
    assert len(batch.rows[next(iter(batch.rows))]) == 9  # 1 owner lookup + 5 pages > 3 per window
    assert [s for _, _, s in fake.log if s == 403] == []  # paused before the limit answered 403
    assert client.gate.waited_s > 0.3 and elapsed > 0.9


def test_secondary_limit_403_is_retried_after_retry_after(tmp_path: Path) -> None:
    with GitHubFake(
        tokens={TOKEN: "octo-user"}, faults=Faults(rate=0.5, statuses=(403,), retry_after_s=0.2)
    ) as fake:
        seed_org(fake, "acme", 3, commits_per_repo=0, issues_per_repo=0)
        client = GitHubClient(TOKEN, fake.api_url, per_page=100, requests_per_second=0, attempts=10)
        started = time.monotonic()
        batch = sync_repositories(client, ["acme"], [], {})
        elapsed = time.monotonic() - started
    retried = client.statuses[403]
    assert retried >= 1 and len(next(iter(batch.rows.values()))) == 3
    assert elapsed >= 0.2 * retried * 0.9  # each retry waited the Retry-After


def test_rate_limit_403_from_a_budget_spent_elsewhere_waits_for_the_reset() -> None:
    with GitHubFake(tokens={TOKEN: "octo-user"}, rate_limit=100) as fake:
        seed_org(fake, "acme", 2, commits_per_repo=0, issues_per_repo=0)
        fake.rate_remaining = 0  # another app spent this user's budget
        fake.rate_reset_at = time.time() + 0.8
        client = GitHubClient(TOKEN, fake.api_url, requests_per_second=0)
        batch = sync_repositories(client, ["acme"], [], {})
    assert len(next(iter(batch.rows.values()))) == 2
    assert client.statuses[403] == 1  # answered once, then the client waited for X-RateLimit-Reset
    assert client.gate.waited_s > 0.2


@pytest.mark.parametrize(
    ("field", "value", "variable"),
    [
        ("owners", ["acme/../x"], "GITHUB_OWNERS"),
        ("repositories", ["acme/api?per_page=1"], "GITHUB_REPOSITORIES"),
        ("repositories", ["acme/.."], "GITHUB_REPOSITORIES"),
        ("data_repository", "a/b/c", "GITHUB_DATA_REPOSITORY"),
    ],
)
def test_names_from_configuration_are_validated_before_reaching_a_url(
    field: str, value: Any, variable: str
) -> None:
    settings: dict[str, Any] = {"token": TOKEN, "owners": ["acme"], field: value}
    gh = GitHubResource(**settings)
    with pytest.raises(GitHubError, match=variable):
        gh.client()
    GitHubResource(token=TOKEN, owners=["acme", "a-b"], repositories=["o/r.js", "o/r_2"]).client()
