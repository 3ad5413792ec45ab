"""unified/todos and unified/project_todos through Dagster: the original's merge rules (contracts
§7) exact on a fixture with conflicting statuses across sessions, the same content in several
sessions and projects, ties in time, subagents, state files and unusable items."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import dagster as dg
import pandas as pd
import pytest

from chitty_pipelines.kernel.assets import FULL_REFRESH_TAG
from chitty_pipelines.platforms.claude_code.tables import TODOS
from chitty_pipelines.unified.projects import unified_projects
from chitty_pipelines.unified.sessions import unified_sessions
from chitty_pipelines.unified.todos import unified_todos
from chitty_pipelines.warehouse.opstore import OpStore
from chitty_pipelines.warehouse.opstore_resource import OpStoreResource
from tests.unified.org_fixture import T0, register_projects, seed_platforms
from tests.unified.todo_fixture import _h, seed_todos
from tests.unified.unified_helpers import id_resource
from tests.warehouse_support import WAREHOUSE_URL  # kept for CLI subprocesses (--warehouse=postgres)

CLI = [sys.executable, "-m", "chitty_pipelines.cli"]


@pytest.fixture
def todo_world(warehouse, warehouse_resource, chitty_home):
    path = chitty_home / "opstore.sqlite"
    register_projects(OpStore(path))
    seed_platforms(warehouse)
    seed_todos(warehouse)
    return OpStoreResource(path=str(path))


def run_unified(warehouse_resource, opstore, tags: dict[str, str] | None = None) -> dg.ExecuteInProcessResult:
    result = dg.materialize(
        [unified_projects, unified_sessions, unified_todos],  # their checks run in their own steps
        resources={"warehouse": warehouse_resource, "opstore": opstore, "chitty_id": id_resource()},
        tags=tags,
    )
    assert result.success
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert {"todos_unique_key", "todos_valid", "todos_project_exists", "project_todos_add_up"} <= set(checks)
    assert all(checks.values()), checks
    return result


def _todo_metadata(result: dg.ExecuteInProcessResult) -> dict[str, Any]:
    mat = next(
        m for m in result.asset_materializations_for_node("unified_todos")
        if m.asset_key.to_user_string() == "unified/todos"
    )  # fmt: skip
    return {k: getattr(v, "value", v) for k, v in mat.metadata.items()}


def _todos(warehouse) -> dict[tuple[str | None, str], dict[str, Any]]:
    df = warehouse.query("SELECT * FROM unified.todos")
    out = {}
    for r in df.to_dict("records"):
        r = {k: (None if not hasattr(v, "__len__") and pd.isna(v) else v) for k, v in r.items()}
        out[(r["project_key"], r["content"])] = r
    return out


def _ts(value):
    return None if value is None else value.to_pydatetime()


def test_merge_rules_exact(warehouse, warehouse_resource, todo_world):
    result = run_unified(warehouse_resource, todo_world)
    t = _todos(warehouse)
    assert set(t) == {("chittychat", c) for c in "ABCDEF"} | {("chitty-id", "A"), (None, "Z")}

    def summary(key):
        r = t[key]
        return (r["status"], r["first_status"], r["added_by"], _ts(r["added_at"]), r["updated_by"],
                _ts(r["updated_at"]), list(r["sessions"]), r["snapshots"], list(r["sources"]))  # fmt: skip

    c0, c1, c2, c10 = "claude:c00-0", "claude:c00-1", "claude:c00-2", "claude:c01-0"
    # A: added pending by c00-1; c00-0 moved it to in_progress, then its state file to completed;
    # c00-1's later stale list (pending) changes nothing.
    assert summary(("chittychat", "A")) == (
        "completed", "pending", c1, _h(3), c0, T0, [c0, c1], 4, ["todos", "transcript"])  # fmt: skip
    assert summary(("chittychat", "B")) == (
        "completed", "pending", c1, _h(3), c0, _h(2), [c0, c1], 3, ["transcript"])  # fmt: skip
    assert summary(("chittychat", "C")) == (
        "completed", "in_progress", c1, _h(3), c1, _h(1), [c1], 2, ["transcript"])  # fmt: skip
    # D: never changed status; "D " from c01-0 is the same content once trimmed.
    assert summary(("chittychat", "D")) == (
        "pending", "pending", c0, _h(2), None, None, [c0, c10], 3, ["todos", "transcript"])  # fmt: skip
    # E: written by c00-0's subagent, in its parent's project.
    assert summary(("chittychat", "E")) == (
        "pending", "pending", "claude:c00-0#agent-a1", _h(1.5), None, None, ["claude:c00-0#agent-a1"], 1,
        ["transcript"])  # fmt: skip
    # F: two sessions at the same instant; the tie goes to the smaller session key, whose
    # in_progress is higher than c01-0's pending, so nothing is "updated".
    assert summary(("chittychat", "F")) == (
        "in_progress", "in_progress", c2, _h(2), None, None, [c2, c10], 2, ["transcript"])  # fmt: skip
    assert summary(("chitty-id", "A"))[:4] == ("pending", "pending", "claude:c02-0", _h(2))
    assert summary((None, "Z"))[:3] == ("pending", "pending", "claude:c10-0")  # no project
    a = t[("chittychat", "A")]
    assert (a["active_form"], a["added_by_tool"], a["updated_by_tool"], a["is_open"]) == (
        "Doing A now", "claude", "claude", False)  # fmt: skip
    assert _ts(a["last_seen_at"]) == T0

    p = warehouse.query("SELECT * FROM unified.project_todos ORDER BY project_key NULLS LAST").to_dict(
        "records"
    )
    chat = next(r for r in p if r["project_key"] == "chittychat")
    counts = ("todo_count", "open_count", "pending_todos", "in_progress_todos", "completed_todos")
    assert [chat[k] for k in counts] == [6, 3, 2, 1, 3]
    assert chat["total_updates"] == 7  # lists L1-L5, L8, L9
    assert list(chat["sessions"]) == [c0, "claude:c00-0#agent-a1", c1, c2, c10]
    assert chat["last_sync"].to_pydatetime() == T0
    assert [r["project_key"] for r in p] == ["chitty-id", "chittychat", None]
    meta = _todo_metadata(result)
    assert meta["items_skipped"] == 2  # the unknown status and the blank content
    assert meta["dagster/row_count"] == 8 and meta["skipped_no_change"] is False


def test_rerun_and_read_order_are_exact(warehouse, warehouse_resource, todo_world):
    run_unified(warehouse_resource, todo_world)
    first = _todos(warehouse)
    warehouse.query("DELETE FROM raw_local.claude_todos")
    seed_todos(warehouse, seed=99)  # same rows, another order
    rebuilt = run_unified(warehouse_resource, todo_world, tags={FULL_REFRESH_TAG: "true"})
    assert _todo_metadata(rebuilt)["skipped_no_change"] is False
    second = _todos(warehouse)
    strip = lambda d: {k: {c: v for c, v in r.items() if c != "built_at"} for k, r in d.items()}  # noqa: E731
    assert strip(first).keys() == strip(second).keys()
    for key in first:
        assert str(strip(first)[key]) == str(strip(second)[key]), key


def test_no_change_skips_and_a_change_rebuilds(warehouse, warehouse_resource, todo_world):
    run_unified(warehouse_resource, todo_world)
    built = warehouse.scalar("SELECT max(built_at) FROM unified.todos")
    again = run_unified(warehouse_resource, todo_world)
    assert _todo_metadata(again)["skipped_no_change"] is True
    assert warehouse.scalar("SELECT max(built_at) FROM unified.todos") == built
    # A new TodoWrite list: c00-2 completes F.
    with warehouse.transaction("new-list") as tx:
        row = {"source_file": "/c/c00-2/L10.jsonl", "line_no": 99, "block": 0, "position": 0}
        row.update(source="transcript", session_id="c00-2", content="F", status="completed", observed_at=T0)
        tx.upsert(TODOS, [row])
    changed = run_unified(warehouse_resource, todo_world)
    assert _todo_metadata(changed)["skipped_no_change"] is False
    f = _todos(warehouse)[("chittychat", "F")]
    assert (f["status"], f["updated_by"], _ts(f["updated_at"])) == ("completed", "claude:c00-2", T0)


def test_a_change_merges_only_its_project_again_and_equals_a_full_rebuild(
    warehouse, warehouse_resource, todo_world
):
    run_unified(warehouse_resource, todo_world)
    before = _todos(warehouse)
    with warehouse.transaction("new-list") as tx:  # c00-2 (project chittychat) completes F
        row = {"source_file": "/c/c00-2/L10.jsonl", "line_no": 99, "block": 0, "position": 0}
        row.update(source="transcript", session_id="c00-2", content="F", status="completed", observed_at=T0)
        tx.upsert(TODOS, [row])
    meta = _todo_metadata(run_unified(warehouse_resource, todo_world))
    assert (meta["projects_rebuilt"], meta["projects_unchanged"]) == (1, 2), meta
    after = _todos(warehouse)
    # the other projects' rows were not written again; chittychat's were
    for key, r in after.items():
        assert (r["built_at"] == before[key]["built_at"]) is (key[0] != "chittychat"), key
    projects = warehouse.query("SELECT * FROM unified.project_todos ORDER BY project_key").to_dict("records")
    full = run_unified(warehouse_resource, todo_world, tags={FULL_REFRESH_TAG: "true"})
    assert _todo_metadata(full)["projects_rebuilt"] == 3
    strip = lambda rows: {k: {c: v for c, v in r.items() if c != "built_at"} for k, r in rows.items()}  # noqa: E731
    assert str(strip(after)) == str(strip(_todos(warehouse)))
    again = warehouse.query("SELECT * FROM unified.project_todos ORDER BY project_key").to_dict("records")
    drop = lambda rows: [{c: v for c, v in r.items() if c != "built_at"} for r in rows]  # noqa: E731
    assert str(drop(projects)) == str(drop(again))


def test_cli_todos(warehouse, warehouse_resource, todo_world, chitty_home):
    run_unified(warehouse_resource, todo_world)
    env = {
        k: v for k, v in os.environ.items() if k == WAREHOUSE_URL or not k.startswith(("CHITTY_", "DAGSTER_"))
    }
    env.update({"CHITTY_HOME": str(chitty_home), "COLUMNS": "200"})

    def todos(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([*CLI, "todos", *args], env=env, capture_output=True, text=True, timeout=300)

    listing = todos()
    assert listing.returncode == 0, listing.stderr
    assert "chittychat" in listing.stdout and "chitty-id" in listing.stdout
    one = todos("chittychat")
    assert one.returncode == 0, one.stderr
    lines = one.stdout.splitlines()
    # Open items only, in progress first; completed ones need --all.
    assert any(" F " in f" {line} " and "in_progress" in line for line in lines)
    # piped: a markdown table
    assert "Doing A" not in one.stdout and all(f" | {c} | " not in one.stdout for c in "ABC")
    every = todos("chittychat", "--all", "--json")
    assert every.returncode == 0, every.stderr
    import json

    data = json.loads(every.stdout)
    assert data["projectId"] == "chittychat" and len(data["todos"]) == 6
    a = next(x for x in data["todos"] if x["content"] == "A")
    assert (a["status"], a["addedBy"], a["updatedBy"]) == ("completed", "claude:c00-1", "claude:c00-0")
    d = next(x for x in data["todos"] if x["content"] == "D")
    assert (d["updatedBy"], d["updatedAt"], data["totalUpdates"]) == (None, None, 7)
    missing = todos("no-such-project")
    assert missing.returncode == 1 and "unknown project 'no-such-project'" in missing.stderr
    # A known project with no todos at all reads like one whose todos are all done: exit 0.
    quiet = warehouse.query(
        "SELECT project_key FROM unified.projects WHERE project_key NOT IN "
        "(SELECT project_key FROM unified.project_todos WHERE project_key IS NOT NULL) ORDER BY 1"
    )["project_key"].tolist()
    assert quiet, "the fixture has a project without todos"
    none = todos(quiet[0])
    assert none.returncode == 0, none.stderr
    assert f"nothing open on {quiet[0]}" in none.stdout
    none_json = todos(quiet[0], "--json")
    assert none_json.returncode == 0, none_json.stderr
    assert json.loads(none_json.stdout) == {
        "projectId": quiet[0], "todos": [], "lastSync": None, "sessions": [], "totalUpdates": 0
    }  # fmt: skip
    # The listing names todos of sessions linked to no project "(no project)"; given back, it
    # shows them (there was no way to list them but SQL).
    assert "(no project)" in listing.stdout
    orphan = todos("(no project)", "--all", "--json")
    assert orphan.returncode == 0, orphan.stderr
    orphans = json.loads(orphan.stdout)
    expected = warehouse.query("SELECT content FROM unified.todos WHERE project_key IS NULL ORDER BY 1")
    assert orphans["projectId"] is None
    assert sorted(t["content"] for t in orphans["todos"]) == expected["content"].tolist() != []
    table = todos("(no project)", "--all")
    assert table.returncode == 0 and "todos of (no project)" in table.stdout, table.stdout + table.stderr
