"""Publishing the consolidated state and todos files to the chittychat-data repository, against the
GitHub fake (a real HTTP server speaking the Git Data API): the dry-run diff, one commit with
--approve, stopping when the remote moved, 403 naming GITHUB_TOKEN's missing write permission, and
nothing ever publishing without approval."""

from __future__ import annotations

import difflib
import json
import os
import re
import subprocess
import sys

import dagster as dg
import pytest

from chitty_pipelines.ops.publish import PUBLISH_JOB, PUBLISH_KEY, chittychat_data_published
from chitty_pipelines.platforms.github.fake import GitHubFake
from chitty_pipelines.platforms.github.publish_client import RemoteMovedError, commit_publish, plan_publish
from chitty_pipelines.platforms.github.resource import GitHubClient, GitHubResource
from chitty_pipelines.unified.publish_files import consolidated_files
from chitty_pipelines.warehouse.opstore import OpStore
from chitty_pipelines.warehouse.opstore_resource import OpStoreResource
from tests.unified.org_fixture import register_projects, seed_platforms
from tests.unified.test_unified_todos import run_unified
from tests.unified.todo_fixture import seed_todos
from tests.warehouse_support import WAREHOUSE_URL  # kept for CLI subprocesses (--warehouse=postgres)

CLI = [sys.executable, "-m", "chitty_pipelines.cli"]
TOKEN, READ_ONLY = "ghp_writer_token_1234", "ghp_reader_token_5678"
DATA = "chittyapps/chittychat-data"
OLD_TODOS = json.dumps(
    {"projectName": "ChittyChat", "todos": [{"content": "A", "status": "pending"}]}, indent=2
)


@pytest.fixture
def world(warehouse, warehouse_resource, chitty_home):
    path = chitty_home / "opstore.sqlite"
    register_projects(OpStore(path))
    seed_platforms(warehouse)
    seed_todos(warehouse)
    run_unified(warehouse_resource, OpStoreResource(path=str(path)))
    return warehouse


@pytest.fixture
def fake():
    with GitHubFake(tokens={TOKEN: "octo-user", READ_ONLY: "reader"}) as f:
        f.git.read_only.add(READ_ONLY)
        f.add_repo(DATA)
        f.put_file(DATA, "README.md", "# chittychat-data\n")
        f.put_file(DATA, "todos/chittychat/todos.json", OLD_TODOS + "\n")
        f.add_commit(DATA, "initial")
        yield f


def _writes(f: GitHubFake) -> int:
    return sum(n for k, n in f.requests.items() if k.split(" ", 1)[0] in ("POST", "PATCH", "PUT", "DELETE"))


def _cli(chitty_home, f: GitHubFake, *args: str, token: str = TOKEN) -> subprocess.CompletedProcess:
    env = {
        k: v
        for k, v in os.environ.items()
        if k == WAREHOUSE_URL or not k.startswith(("CHITTY_", "DAGSTER_", "GITHUB_"))
    }
    env.update({"CHITTY_HOME": str(chitty_home), "COLUMNS": "200", "GITHUB_TOKEN": token,
                "GITHUB_BASE_URL": f.api_url, "GITHUB_DATA_REPOSITORY": DATA})  # fmt: skip
    return subprocess.run([*CLI, "publish", *args], env=env, capture_output=True, text=True, timeout=300)


def test_plan_counts_lines_exactly(world, fake):
    files = consolidated_files(world)
    assert "todos/chittychat/todos.json" in files and "consolidated/chittychat/state.json" in files
    assert "todos/chitty-id/todos.json" in files
    todos = json.loads(files["todos/chittychat/todos.json"])
    assert todos["projectName"] and len(todos["todos"]) == 6 and todos["updatedAt"] == "2026-11-20T12:00:00Z"
    a = next(t for t in todos["todos"] if t["content"] == "A")
    assert a == {"content": "A", "status": "completed", "activeForm": "Doing A now",
                 "addedBy": "claude:c00-1", "addedAt": "2026-11-20T09:00:00Z",
                 "updatedBy": "claude:c00-0", "updatedAt": "2026-11-20T12:00:00Z"}  # fmt: skip
    state = json.loads(files["consolidated/chittychat/state.json"])
    assert state["dataType"] == "consolidated-state" and state["totalSessions"] == len(state["sessions"]) == 4
    with GitHubClient(TOKEN, fake.api_url) as client:
        plan = plan_publish(client, DATA, files)
    assert plan.head_sha == fake.git.head(DATA) and plan.branch == "main"
    changes = {c.path: c for c in plan.changes}
    old, new = (OLD_TODOS + "\n").splitlines(), files["todos/chittychat/todos.json"].decode().splitlines()
    ops = [line[0] for line in difflib.unified_diff(old, new, lineterm="") if line[:3] not in ("---", "+++")]
    mod = changes["todos/chittychat/todos.json"]
    assert (mod.status, mod.added, mod.removed) == ("modified", ops.count("+"), ops.count("-"))
    state_change = changes["consolidated/chittychat/state.json"]
    assert (state_change.status, state_change.added, state_change.removed) == (
        "added", len(files["consolidated/chittychat/state.json"].decode().splitlines()), 0)  # fmt: skip
    assert plan.lines_added == sum(c.added for c in plan.changes) and _writes(fake) == 0


def test_cli_dry_run_then_approve_makes_one_commit(world, fake, chitty_home):
    before = fake.git.head(DATA)
    dry = _cli(chitty_home, fake)
    assert dry.returncode == 0, dry.stderr
    assert "todos/chittychat/todos.json" in dry.stdout and "modified" in dry.stdout
    assert "consolidated/chittychat/state.json" in dry.stdout and "added" in dry.stdout
    assert "dry run: nothing written" in dry.stdout and f"--expect-head {before}" in dry.stdout
    assert _writes(fake) == 0 and fake.git.head(DATA) == before
    digest = re.search(r"--expect-files ([0-9a-f]{16})", dry.stdout).group(1)

    approved = _cli(chitty_home, fake, "--approve", "--expect-head", before, "--expect-files", digest)
    assert approved.returncode == 0, approved.stderr
    head = fake.git.head(DATA)
    assert head != before and f"committed {head}" in approved.stdout
    assert len(fake.git.ref_updates) == 1 and fake.requests[f"POST /api/v3/repos/{DATA}/git/commits"] == 1
    assert fake.git.commits[head]["parents"] == [before]  # on top of the reviewed head, not forced
    files = consolidated_files(world)
    repo = fake.repos[DATA]
    assert {p: repo.files[p] for p in files} == files and repo.files["README.md"] == b"# chittychat-data\n"
    assert TOKEN not in approved.stdout + approved.stderr

    again = _cli(chitty_home, fake)  # timestamps come from the data: nothing to publish twice
    assert again.returncode == 0 and "up to date, nothing to publish" in again.stdout


def test_remote_moved_since_the_diff_stops(world, fake, chitty_home):
    reviewed = fake.git.head(DATA)
    moved = fake.git.move_head(DATA, {"notes.md": "someone else pushed\n"})
    cli = _cli(chitty_home, fake, "--approve", "--expect-head", reviewed)
    assert cli.returncode == 1 and "changed since the diff was computed" in cli.stderr
    assert fake.git.head(DATA) == moved and not fake.git.ref_updates and _writes(fake) == 0
    # "Review the diff above and approve again" left the user to compose the command with the new
    # head: it is printed, and approves exactly the diff shown on the moved head.
    again = re.search(r"To commit exactly the diff above: (chitty-sync publish .*)", cli.stdout)
    assert again and f"--expect-head {moved}" in again.group(1), cli.stdout

    # The head moves between the diff and the commit (same process): stop before writing.
    with GitHubClient(TOKEN, fake.api_url) as client:
        plan = plan_publish(client, DATA, consolidated_files(world))
        fake.git.move_head(DATA, {"notes.md": "and again\n"})
        with pytest.raises(RemoteMovedError, match="changed since the diff"):
            commit_publish(client, plan, "publish")
    assert not fake.git.ref_updates and _writes(fake) == 0
    # the printed command, run on the head now: the diff it names is stale again, so it stops too
    stale = _cli(chitty_home, fake, *again.group(1).split()[2:])
    assert stale.returncode == 1 and "changed since the diff was computed" in stale.stderr
    fresh = re.search(r"To commit exactly the diff above: (chitty-sync publish .*)", stale.stdout).group(1)
    approved = _cli(chitty_home, fake, *fresh.split()[2:])
    assert approved.returncode == 0, approved.stderr
    head = fake.git.head(DATA)
    assert len(fake.git.ref_updates) == 1 and fake.git.commits[head]["parents"] == [fresh.split()[4]]


def test_files_changed_since_the_reviewed_diff_stops(world, fake, chitty_home):
    dry = _cli(chitty_home, fake, "--project", "chittychat")
    head = fake.git.head(DATA)
    digest = re.search(r"--expect-files ([0-9a-f]{16})", dry.stdout).group(1)
    # A sync lands between review and approval: the project's todos change.
    world.query("UPDATE unified.todos SET status = 'completed', is_open = false WHERE content = 'D'")
    cli = _cli(chitty_home, fake, "--project", "chittychat", "--approve", "--expect-head", head,
               "--expect-files", digest)  # fmt: skip
    assert cli.returncode == 1 and "changed since the diff was reviewed" in cli.stderr
    assert not fake.git.ref_updates and _writes(fake) == 0
    assert f"--expect-head {head} --expect-files " in cli.stdout and "--project chittychat" in cli.stdout


def test_a_push_racing_the_commit_is_not_overwritten(world, fake):
    """Someone pushes after the head was checked and before the ref update: GitHub (the fake)
    refuses the non-fast-forward update, and the publish says the remote changed."""
    pushed: list[str] = []

    def race(kind: str, repo: str) -> None:
        if kind == "refs" and not pushed:
            pushed.append(fake.git.move_head(repo, {"notes.md": "pushed meanwhile\n"}))

    with GitHubClient(TOKEN, fake.api_url) as client:
        plan = plan_publish(client, DATA, consolidated_files(world))
        fake.git.before_write = race
        with pytest.raises(RemoteMovedError, match="changed while publishing"):
            commit_publish(client, plan, "publish")
    assert fake.git.head(DATA) == pushed[0] and not fake.git.ref_updates
    assert fake.repos[DATA].files["notes.md"] == b"pushed meanwhile\n"


def test_fake_refuses_a_non_fast_forward_ref_update(fake):
    """The last guard: a commit on a stale parent cannot move the branch without force."""
    import github

    with GitHubClient(TOKEN, fake.api_url) as client:
        repo = client.github().get_repo(DATA)
        stale = repo.get_git_commit(repo.get_git_ref("heads/main").object.sha)
        fake.git.move_head(DATA, {"x.md": "x\n"})
        tree = repo.create_git_tree(
            [github.InputGitTreeElement("y.md", "100644", "blob", content="y\n")], base_tree=stale.tree
        )
        commit = repo.create_git_commit("stale", tree, [stale])
        with pytest.raises(github.GithubException) as exc:
            repo.get_git_ref("heads/main").edit(commit.sha, force=False)
    assert exc.value.status == 422 and "fast forward" in exc.value.data["message"]
    assert not fake.git.ref_updates


def _materialize(world_wh, fake, token, **config) -> dg.ExecuteInProcessResult:
    from chitty_pipelines.warehouse.resource import WarehouseResource

    return dg.materialize(
        [chittychat_data_published],
        resources={
            "warehouse": WarehouseResource(path=str(world_wh.path), url=world_wh.url),
            "github": GitHubResource(token=token, base_url=fake.api_url, data_repository=DATA),
        },
        run_config={"ops": {chittychat_data_published.op.name: {"config": config}}} if config else None,
        raise_on_error=False,
    )


def _failure(result: dg.ExecuteInProcessResult) -> str:
    return result.get_step_failure_events()[0].event_specific_data.error.message


def test_403_names_github_tokens_missing_write_permission(world, fake, chitty_home):
    result = _materialize(world, fake, READ_ONLY, approve=True)
    assert not result.success
    message = _failure(result)
    assert "GITHUB_TOKEN has no write permission" in message and "403" in message
    assert READ_ONLY not in message and not fake.git.ref_updates
    # The same from the command line: the diff is readable, the commit is refused.
    cli = _cli(chitty_home, fake, "--approve", token=READ_ONLY)
    assert cli.returncode == 1 and "GITHUB_TOKEN has no write permission" in cli.stderr
    assert READ_ONLY not in cli.stdout + cli.stderr and not fake.git.ref_updates


def test_asset_commits_with_run_config_approval(world, fake):
    stale = _materialize(world, fake, TOKEN, approve=True, project="chitty-id", expected_digest="0" * 16)
    assert not stale.success and "changed since the diff was reviewed" in _failure(stale)
    assert not fake.git.ref_updates
    result = _materialize(world, fake, TOKEN, approve=True, project="chitty-id")
    assert result.success
    mat = result.asset_materializations_for_node(chittychat_data_published.op.name)[0]
    assert mat.metadata["commit_sha"].value == fake.git.head(DATA)
    assert {c["path"] for c in mat.metadata["changes"].value} == {
        "todos/chitty-id/todos.json", "consolidated/chitty-id/state.json"}  # fmt: skip


def test_nothing_publishes_without_approval(world, fake):
    from chitty_pipelines.definitions import defs

    # Without approval the asset fails before any request to GitHub.
    result = _materialize(world, fake, TOKEN)
    assert not result.success and "not approved" in _failure(result)
    assert fake.total_requests == 0
    # The refusal quotes launchpad config that Dagster accepts for the publish job as it stands.
    import re

    import yaml

    quoted = re.search(r"launchpad config `([^`]+)`", _failure(result))
    assert quoted is not None, _failure(result)
    launchpad = yaml.safe_load(quoted.group(1))
    assert launchpad == {"ops": {"chittychat_data__published": {"config": {"approve": True}}}}
    assert dg.validate_run_config(defs.resolve_job_def("publish_chittychat_data"), launchpad)
    # No job but the publish job selects it; no schedule or sensor targets that job.
    repo = defs.get_repository_def()
    # (Dagster's implicit __ASSET_JOB, behind the UI's "Materialize" button, holds every asset;
    # no schedule or sensor targets it, and the asset refuses without approval anyway.)
    selecting = {
        j.name
        for j in repo.get_all_jobs()
        if PUBLISH_KEY in j.asset_layer.executable_asset_keys and not j.name.startswith("__ASSET_JOB")
    }
    assert selecting == {PUBLISH_JOB}
    syncall = defs.resolve_job_def("syncall")
    assert PUBLISH_KEY not in syncall.asset_layer.executable_asset_keys
    for schedule in repo.schedule_defs:
        assert schedule.job_name != PUBLISH_JOB, schedule.name
        assert PUBLISH_KEY not in repo.get_job(schedule.job_name).asset_layer.executable_asset_keys
    for sensor in repo.sensor_defs:
        for target in sensor.targets:
            assert PUBLISH_KEY not in repo.get_job(target.job_name).asset_layer.executable_asset_keys
        if sensor.asset_selection is not None:
            assert PUBLISH_KEY not in sensor.asset_selection.resolve(repo.asset_graph), sensor.name
