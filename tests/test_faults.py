"""The fakes' timeout fault: a request that is accepted and never answered in time, and the
kernel's retry getting a client through it (issue 15, faults)."""

from __future__ import annotations

import socket
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from chitty_pipelines.kernel.fake_server import FakeService, Faults, Response
from chitty_pipelines.kernel.retry import call_with_retry
from tests.warehouse_support import warehouse_resource_at

# ~45 s in all (each run holds some requests past a 1 s client timeout); each test is bounded.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]


class _EchoFake(FakeService):
    def __init__(self, faults: Faults | None = None):
        super().__init__(faults)
        self.route("GET", "/item/{n}", lambda req: Response(200, {"n": req.params["n"]}))


def _get(base_url: str, n: int, timeout_s: float) -> bytes:
    with urllib.request.urlopen(f"{base_url}/item/{n}", timeout=timeout_s) as resp:
        return resp.read()


def _is_timeout(exc: BaseException) -> bool:
    # urllib raises the socket timeout bare on a read, wrapped in URLError on connect.
    return isinstance(exc, TimeoutError | socket.timeout) or (
        isinstance(exc, urllib.error.URLError) and isinstance(exc.reason, TimeoutError)
    )


def test_timeout_fault_holds_the_answer_past_the_client_timeout() -> None:
    with _EchoFake(Faults(timeout_rate=1.0, timeout_hold_s=1.5)) as fake:
        started = time.monotonic()
        with pytest.raises(Exception) as raised:
            _get(fake.base_url, 1, timeout_s=0.3)
        assert _is_timeout(raised.value), repr(raised.value)
        assert time.monotonic() - started < 1.5  # the client gave up, the fake did not answer
        assert fake.requests["GET /item/1"] == 1


def test_timeout_faults_are_seeded_and_leave_other_draws_unchanged() -> None:
    # Without timeout faults the fault sequence is the one existing tests were written against.
    plain, with_zero = Faults(rate=0.2, seed=3), Faults(rate=0.2, seed=3, timeout_rate=0.0)
    a, b = _EchoFake(plain), _EchoFake(with_zero)
    assert [a._rng.random() for _ in range(5)] == [b._rng.random() for _ in range(5)]


def test_retry_gets_every_item_through_20_percent_timeouts() -> None:
    clean: list[bytes] = []
    with _EchoFake() as fake:
        clean = [_get(fake.base_url, n, timeout_s=0.5) for n in range(15)]
    with _EchoFake(Faults(timeout_rate=0.2, timeout_hold_s=1.0, seed=9)) as fake:
        faulted = [
            call_with_retry(
                lambda n=n: _get(fake.base_url, n, timeout_s=0.3),
                retryable=_is_timeout,
                attempts=8,
                max_wait=0.05,
            )
            for n in range(15)
        ]
        # Held requests are logged only when the hold ends; the request counter sees them at once.
        retried = fake.total_requests - 15
    assert faulted == clean
    assert retried > 0, "no timeout fault was injected: the test proves nothing"


def test_github_tables_identical_under_20_percent_timeouts(tmp_path: Path) -> None:
    from chitty_pipelines.platforms.github.assets import GITHUB_ASSETS
    from chitty_pipelines.platforms.github.fake import GitHubFake
    from chitty_pipelines.platforms.github.resource import GitHubResource
    from chitty_pipelines.platforms.github.seed import DATA_REPO, seed_example

    token = "ghp_faults0123456789abcdef"
    tables = ("repositories", "commits", "issues", "pull_requests", "projects")

    def run(fake: GitHubFake, name: str) -> dict[str, list[tuple[Any, ...]]]:
        gh = GitHubResource(
            token=token,
            base_url=fake.api_url,
            owners=["acme"],
            repositories=["other/tools"],
            data_repository=DATA_REPO,
            per_page=2,
            requests_per_second=0,
            retry_attempts=8,
            retry_max_wait_s=0.01,
            timeout_s=1.0,
        )
        wh = warehouse_resource_at(tmp_path / f"{name}.duckdb")
        assets = dg.AssetSelection.all().without_checks()
        assert dg.materialize(
            GITHUB_ASSETS, resources={"github": gh, "warehouse": wh}, selection=assets
        ).success
        with wh.get().connect() as con:
            return {t: con.execute(f"SELECT * FROM raw_github.{t} ORDER BY ALL").fetchall() for t in tables}

    with GitHubFake(tokens={token: "octo-user"}) as fake:
        seed_example(fake)
        clean = run(fake, "clean")
        fake.faults = Faults(timeout_rate=0.2, timeout_hold_s=2.0, seed=5)
        answered = fake.total_requests
        faulty = run(fake, "faulty")
        assert fake.total_requests - answered > 0
    assert clean["commits"]  # the comparison is not between two empty tables
    assert faulty == clean


def test_notion_tables_identical_under_20_percent_timeouts(tmp_path: Path) -> None:
    from chitty_pipelines.platforms.notion.fake import FakeNotion
    from tests.platforms.notion_seed import seed
    from tests.platforms.test_notion import TOKEN, dump, resource, sync

    dumps, extra_requests = [], 0
    for n, faults in enumerate([Faults(), Faults(timeout_rate=0.2, timeout_hold_s=2.0, seed=5)]):
        server = FakeNotion(token=TOKEN, faults=faults)
        seed(server, notes=10)
        wh = warehouse_resource_at(tmp_path / f"notion{n}.duckdb")
        with server:
            notion = resource(server, page_size=2, max_attempts=10, timeout_s=1.0)
            assert sync(notion, wh).success
            extra_requests = server.total_requests - extra_requests
        dumps.append(dump(wh.get()))
    assert extra_requests > 0  # the faulted run needed retries: timeouts were really injected
    assert len(dumps[0]["pages"]) == 12
    assert dumps[1] == dumps[0]


def test_drive_tables_identical_under_20_percent_timeouts(
    chitty_home: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from chitty_pipelines.platforms.drive.resource import DriveResource
    from tests.platforms.drive_support import (
        contents_table,
        files_table,
        materialize,
        seed,
        set_env,
        start_fake,
    )

    outcomes = []
    for n, faults in enumerate([Faults(), Faults(timeout_rate=0.2, timeout_hold_s=2.0, seed=5)]):
        fake = start_fake(faults)
        try:
            seed(fake)
            set_env(monkeypatch, fake)
            drive = DriveResource.from_settings(max_wait_s=0.02, attempts=10, timeout_s=1.0)
            wr = warehouse_resource_at(tmp_path / f"drive{n}.duckdb")
            materialize(wr, drive=drive)
            outcomes.append((files_table(wr.get()), contents_table(wr.get()), fake.total_requests))
        finally:
            fake.stop()
    (clean_files, clean_contents, clean_requests), (files, contents, requests) = outcomes
    assert requests > clean_requests  # timeouts were really injected and retried
    assert clean_files and files == clean_files
    assert contents == clean_contents


def test_cloudflare_kv_and_d1_tables_identical_under_20_percent_timeouts(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from tests.platforms import test_cloudflare_d1 as d1
    from tests.platforms import test_cloudflare_kv as kv
    from tests.platforms.cloudflare_support import D1, KV, TOKEN, fake, materialize

    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", TOKEN)
    tables, requests = [], []
    for n, faults in enumerate([Faults(), Faults(timeout_rate=0.2, timeout_hold_s=2.0, seed=5)]):
        with fake(faults=faults) as f:
            for i in range(30):
                f.put_kv("ns-a", f"k{i:03d}", f"value {i}", metadata={"n": i} if i % 2 else None)
            d1._seed(f)
            settings: dict[str, Any] = {"api_attempts": 10, "api_max_wait_s": 0.02, "api_timeout_s": 1.0}
            wh = warehouse_resource_at(tmp_path / f"cf{n}.duckdb")
            materialize(KV, kv._kv(f, kv_namespace_ids=["ns-a"], kv_page_size=10, **settings), wh)
            materialize(D1, d1._d1(f, d1_page_rows=100, **settings), wh)
            tables.append((kv._table(wh.get()), d1._table(wh.get())))
            requests.append(f.total_requests)
    assert requests[1] > requests[0]  # timeouts were really injected and retried
    assert len(tables[0][0]) == 30 and tables[0][1]
    assert tables[1] == tables[0]


@pytest.mark.parametrize(
    "faults",
    [
        Faults(timeout_rate=0.2, timeout_hold_s=2.0, seed=5),
        Faults(rate=0.2, retry_after_s=0.0, statuses=(429, 500, 502, 503), seed=9),
    ],
    ids=["timeouts", "429-5xx"],
)
def test_r2_tables_identical_under_20_percent_faults(faults: Faults, tmp_path: Path) -> None:
    from chitty_pipelines.platforms.cloudflare.fake import FaultyS3Proxy
    from tests.platforms import test_cloudflare_r2 as r2
    from tests.platforms.cloudflare_support import R2, materialize, moto_server, rows, s3

    def r2_tables(wh: Any) -> tuple[list[tuple[Any, ...]], ...]:
        json_rows = rows(wh, "SELECT * EXCLUDE (synced_at) FROM raw_cloudflare.r2_json_objects ORDER BY ALL")
        return r2._inventory(wh), json_rows

    with moto_server() as upstream:
        # moto's backend is shared by every server in the process: a bucket of this test's own.
        bucket = f"faults-{tmp_path.name}".lower().replace("_", "-")[:60]
        r2._seed(s3(upstream), bucket)
        results, requests = [], []
        for n, run_faults in enumerate([Faults(), faults]):
            with FaultyS3Proxy(upstream, run_faults) as proxy:
                settings: dict[str, Any] = {"r2_attempts": 10, "r2_max_wait_s": 0.02, "r2_timeout_s": 1.0}
                wh = warehouse_resource_at(tmp_path / f"r2{n}.duckdb")
                materialize(R2, r2._r2(proxy.base_url, bucket, r2_list_page_size=2, **settings), wh)
                results.append(r2_tables(wh.get()))
                requests.append(proxy.total_requests)
    assert requests[1] > requests[0]  # faults were really injected and retried
    assert results[0][0] and results[0][1]
    assert results[1] == results[0]
