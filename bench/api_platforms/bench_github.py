"""GitHub sync benchmark: a synthetic organisation of 200 repositories with history behind the
fake GitHub, every request delayed by ``latency_s``.

Measured in one invocation:

* ours, full sync: the real GitHub assets (``dg.materialize``) into a fresh DuckDB warehouse,
  4 repositories in parallel (the default GITHUB_MAX_WORKERS); then a no-change re-sync (only
  conditional requests, all 304: no rate budget spent), then a re-sync after k upstream
  changes (k/2 new commits, k/2 edited issues in different repositories);
* ours again with one worker, so wall time compares like for like with the serial baseline;
* baseline: PyGithub's plain unconditional paginated listing, the way a script without state
  reads the same data (org repos, each default branch's commits, each repository's issues,
  the data repository's files). With no ETags and no cursors a re-sync costs what a full sync
  costs, so the baseline is measured once and stands for both.

Client-side pacing (GITHUB_REQUESTS_PER_SECOND) is off in every run: it is a policy against
GitHub's secondary limits, which the fake does not enforce, and would only measure itself.

``run(latency_s, smoke)`` is what bench/api_platforms/run.py calls;
``python -m bench.api_platforms.bench_github [--smoke]`` runs it alone.
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dagster as dg
import github

from chitty_pipelines.kernel.fake_server import Faults
from chitty_pipelines.platforms.github.assets import GITHUB_ASSETS
from chitty_pipelines.platforms.github.fake import GitHubFake
from chitty_pipelines.platforms.github.resource import GitHubResource
from chitty_pipelines.platforms.github.seed import DATA_REPO, seed_org
from chitty_pipelines.warehouse.resource import WarehouseResource

TOKEN = "ghp_bench_token"
ORG = "acme"


def seed(fake: GitHubFake, repos: int, commits: int, issues: int, projects: int) -> dict[str, int]:
    seed_org(fake, ORG, repos, commits_per_repo=commits, issues_per_repo=issues)
    fake.add_repo(DATA_REPO)
    for p in range(projects):
        state = {"projectName": f"p{p}", "totalSessions": p, "dataType": "consolidated-state"}
        fake.put_file(DATA_REPO, f"consolidated/p{p:03d}/state.json", state)
        todos = {
            "projectName": f"p{p}",
            "todos": [{"content": f"task {n}", "status": "pending"} for n in range(5)],
        }
        fake.put_file(DATA_REPO, f"todos/p{p:03d}/todos.json", todos)
        fake.put_file(DATA_REPO, f"projects/p{p:03d}.json", {"id": f"p{p:03d}", "name": f"Project {p}"})
    return {
        "repositories": repos,
        "commits": repos * commits,
        "issues_and_prs": repos * issues,
        "projects": projects,
    }


def _measure(fake: GitHubFake, fn: Callable[[], Any]) -> dict[str, Any]:
    fake.reset_counters()
    fake.conditional_log.clear()
    budget = fake.rate_remaining
    started = time.perf_counter()
    value = fn()
    wall = time.perf_counter() - started
    statuses = Counter(status for _, _, status in fake.log)
    out = {
        "wall_s": round(wall, 3),
        "requests": fake.total_requests,
        "conditional_requests": sum(1 for _, cond, _ in fake.conditional_log if cond),
        "status_counts": {str(k): v for k, v in sorted(statuses.items())},
        "rate_limit_spent": budget - fake.rate_remaining,
    }
    if isinstance(value, dict):
        out.update(value)
    return out


def _ours(fake: GitHubFake, wr: WarehouseResource, workers: int) -> Callable[[], dict[str, Any]]:
    gh = GitHubResource(
        token=TOKEN,
        base_url=fake.api_url,
        owners=[ORG],
        data_repository=DATA_REPO,
        max_workers=workers,
        requests_per_second=0,
    )

    def go() -> dict[str, Any]:
        # The data only, as before the checks joined the platform's step.
        result = dg.materialize(
            GITHUB_ASSETS,
            resources={"github": gh, "warehouse": wr},
            selection=dg.AssetSelection.all().without_checks(),
        )
        assert result.success
        written = 0
        for event in result.get_asset_materialization_events():
            md = event.event_specific_data.materialization.metadata  # type: ignore[union-attr]
            written += int(md["rows_written"].value) if "rows_written" in md else 0
        return {"rows_written": written}

    return go


def baseline_listing(fake: GitHubFake) -> dict[str, Any]:
    """PyGithub, no ETags, no cursors: list everything, page by page."""
    gh = github.Github(
        auth=github.Auth.Token(TOKEN),
        base_url=fake.api_url,
        per_page=100,
        retry=None,
        seconds_between_requests=None,
    )
    items = 0
    for repo in gh.get_organization(ORG).get_repos(type="all"):
        items += 1
        try:
            items += sum(1 for _ in repo.get_commits(sha=repo.default_branch))
        except github.GithubException as exc:
            if exc.status != 409:  # empty repository
                raise
        items += sum(1 for _ in repo.get_issues(state="all"))
    data = gh.get_repo(DATA_REPO)
    for folder, name in (("consolidated", "state.json"), ("todos", "todos.json"), ("projects", None)):
        for entry in data.get_contents(folder):  # type: ignore[union-attr]
            path = f"{entry.path}/{name}" if name else entry.path
            data.get_contents(path).decoded_content  # type: ignore[union-attr]  # noqa: B018
            items += 1
    return {"items_read": items}


def _dagster_overhead(wr: WarehouseResource) -> float:
    """Wall time of materializing one empty asset in process: the fixed cost inside every
    ``ours_*`` figure that the plain-script baseline does not pay."""

    @dg.asset
    def noop() -> None:
        return None

    started = time.perf_counter()
    dg.materialize([noop], resources={"warehouse": wr})
    return round(time.perf_counter() - started, 3)


def _rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def run(latency_s: float = 0.03, smoke: bool = False) -> dict[str, Any]:
    repos, commits, issues, projects, k = (6, 12, 6, 3, 4) if smoke else (200, 150, 60, 20, 20)
    fake = GitHubFake(tokens={TOKEN: "bench"}, faults=Faults(latency_s=latency_s), rate_limit=1_000_000)
    fake.start()
    try:
        inputs = seed(fake, repos, commits, issues, projects)
        with tempfile.TemporaryDirectory() as tmp:
            wr = WarehouseResource(path=str(Path(tmp) / "bench.duckdb"), lock_timeout_s=60)
            overhead = _dagster_overhead(wr)
            full = _measure(fake, _ours(fake, wr, 4))
            resync = _measure(fake, _ours(fake, wr, 4))
            names = sorted(r for r in fake.repos if r.startswith(ORG + "/"))
            for n, name in enumerate(names[:k]):
                if n % 2:
                    fake.update_issue(name, 1, title="edited")
                else:
                    fake.add_commit(name, "new work")
            changed = _measure(fake, _ours(fake, wr, 4))
            serial_wr = WarehouseResource(path=str(Path(tmp) / "serial.duckdb"), lock_timeout_s=60)
            serial_full = _measure(fake, _ours(fake, serial_wr, 1))
            serial_resync = _measure(fake, _ours(fake, serial_wr, 1))
        baseline = _measure(fake, lambda: baseline_listing(fake))
    finally:
        fake.stop()
    rows = inputs["repositories"] + inputs["commits"] + inputs["issues_and_prs"]
    full["rows_per_s"] = round(rows / full["wall_s"], 1)
    return {
        "inputs": {**inputs, "latency_s": latency_s, "per_page": 100, "k_changes": k, "workers": 4},
        "ours_full": full,
        "ours_resync_no_change": resync,
        "ours_resync_k_changes": changed,
        "ours_serial_full": serial_full,
        "ours_serial_resync_no_change": serial_resync,
        "baseline_unconditional_listing": baseline,
        "ratios": {
            "full_requests_vs_baseline": round(full["requests"] / baseline["requests"], 3),
            "full_wall_vs_baseline": round(full["wall_s"] / baseline["wall_s"], 3),
            "serial_full_wall_vs_baseline": round(serial_full["wall_s"] / baseline["wall_s"], 3),
            "resync_requests_vs_baseline": round(resync["requests"] / baseline["requests"], 3),
            "resync_rate_limit_vs_baseline": round(
                resync["rate_limit_spent"] / max(baseline["rate_limit_spent"], 1), 4
            ),
            "resync_wall_vs_baseline": round(resync["wall_s"] / baseline["wall_s"], 3),
            "serial_resync_wall_vs_baseline": round(serial_resync["wall_s"] / baseline["wall_s"], 3),
        },
        "dagster_materialize_overhead_s": overhead,
        "peak_rss_mb": _rss_mb(),
        "notes": "peak RSS is the whole benchmark process (fake server included); baseline = PyGithub "
        "listing without ETags or cursors, serial; its re-sync costs the same as its full sync.",
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--latency", type=float, default=0.03)
    args = parser.parse_args()
    print(json.dumps(run(args.latency, args.smoke), indent=2))
