"""GitHub set up wrongly, as a data engineer can from the README: an owner or repository that
does not exist, a base URL where nothing listens, a server that accepts and never answers. The
step fails naming the variable to fix, and the health probe (status, check) says the same."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any

import dagster as dg
import pytest

from chitty_pipelines.kernel.fake_server import Faults
from chitty_pipelines.platforms.github.assets import GITHUB_ASSETS
from chitty_pipelines.platforms.github.fake import GitHubFake
from chitty_pipelines.platforms.github.health import probe
from chitty_pipelines.platforms.github.resource import GitHubResource
from chitty_pipelines.platforms.github.seed import DATA_REPO, seed_example
from chitty_pipelines.warehouse.resource import WarehouseResource
from tests.platforms.platform_support import failure_text

TOKEN = "ghp_SECRETmisconfig0123456789abcdef"


@pytest.fixture
def fake() -> Iterator[GitHubFake]:
    with GitHubFake(tokens={TOKEN: "octo-user"}) as f:
        seed_example(f)
        yield f  # type: ignore[misc]


def resource(base_url: str, **kw: Any) -> GitHubResource:
    settings: dict[str, Any] = {
        "token": TOKEN,
        "base_url": base_url,
        "owners": ["acme"],
        "repositories": ["other/tools"],
        "data_repository": DATA_REPO,
        "requests_per_second": 0,
        "retry_max_wait_s": 0.01,
        **kw,
    }
    return GitHubResource(**settings)


def sync(gh: GitHubResource, wh: WarehouseResource) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        GITHUB_ASSETS,
        resources={"github": gh, "warehouse": wh},
        selection=dg.AssetSelection.all().without_checks(),
        raise_on_error=False,
    )


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_probe_names_an_owner_and_a_repository_that_do_not_exist(fake: GitHubFake) -> None:
    """status and check used to say "GITHUB_TOKEN accepted" while every sync failed on the owner."""
    health = probe(resource(fake.api_url, owners=["acme", "no-such-org"], repositories=["other/gone"]))
    assert health["ok"] is False and health["configured"] is True
    reason = health["reason"]
    assert "no-such-org" in reason and "check GITHUB_OWNERS" in reason
    assert "other/gone" in reason and "check GITHUB_REPOSITORIES" in reason
    assert "\n" not in reason and TOKEN not in reason
    assert probe(resource(fake.api_url))["ok"] is True


def test_nothing_listening_fails_naming_github_base_url(warehouse_resource: WarehouseResource) -> None:
    base = f"http://127.0.0.1:{closed_port()}/api/v3"
    gh = resource(base, retry_attempts=2)
    result = sync(gh, warehouse_resource)
    assert not result.success
    text = failure_text(result)
    assert "check GITHUB_BASE_URL" in text and base in text
    assert "HTTPConnectionPool" not in text  # requests' own text named no setting
    reason = probe(gh)["reason"]
    assert "check GITHUB_BASE_URL" in reason and base in reason


def test_a_server_that_never_answers_times_out_naming_the_settings(
    fake: GitHubFake, warehouse_resource: WarehouseResource
) -> None:
    fake.faults = Faults(timeout_rate=1.0, timeout_hold_s=3.0)
    gh = resource(fake.api_url, timeout_s=0.5, retry_attempts=2)
    t0 = time.monotonic()
    result = sync(gh, warehouse_resource)
    elapsed = time.monotonic() - t0
    assert not result.success
    text = failure_text(result)
    assert "ReadTimeout after 2 attempts" in text
    assert "GITHUB_BASE_URL" in text and "GITHUB_TIMEOUT_S is 0.5 s" in text
    # Bounded by the timeout (2 attempts of ~1 s: PyGithub rounds up to whole seconds), not by
    # the server's 3 s hold per request; generous for a loaded machine, still far from a hang.
    assert elapsed < 30


def test_the_demo_data_repository_has_a_branch_to_publish_on() -> None:
    """`chitty-sync publish` in the demo answered "chitty-demo/chittychat-data ... was not found":
    the demo seeded the data repository's files without a commit, so its branch had no head."""
    from chitty_pipelines.demo import seed as demo_seed
    from chitty_pipelines.platforms.github.publish_client import plan_publish

    with GitHubFake(tokens={TOKEN: "demo-user"}) as fake:
        env = demo_seed.seed_github(fake)
        repo = env["GITHUB_DATA_REPOSITORY"]
        gh = resource(fake.api_url, owners=[demo_seed.ORG], repositories=[], data_repository=repo)
        with gh.client() as client:
            plan = plan_publish(client, repo, {"todos/atlas/todos.json": b"{}\n"})
    assert plan.head_sha == fake.git.head(repo)
    assert [(c.path, c.status) for c in plan.changes] == [("todos/atlas/todos.json", "added")]


def test_publish_to_a_base_url_where_nothing_listens_names_github_base_url() -> None:
    """`chitty-sync publish` printed requests' "HTTPConnectionPool(...): Max retries exceeded"."""
    from chitty_pipelines.platforms.github.publish_client import PublishError, plan_publish

    base = f"http://127.0.0.1:{closed_port()}/api/v3"
    with resource(base).client() as client, pytest.raises(PublishError) as caught:
        plan_publish(client, DATA_REPO, {"todos/a/todos.json": b"{}\n"})
    text = str(caught.value)
    assert "check GITHUB_BASE_URL" in text and base in text and "nothing was written" in text
