"""``chitty-sync project list`` and ``project remove NAME``: a soft delete (contracts §1.4 row 8).
A removed project leaves the lists and the unified tables, its rows stay with removed_at, and
registering it again restores it."""

from __future__ import annotations

import json
import sqlite3

from typer.testing import CliRunner

from chitty_pipelines.cli import app
from chitty_pipelines.warehouse.opstore import OpStore
from chitty_pipelines.warehouse.opstore_location import default_store
from tests.unified.org_fixture import register_projects, seed_platforms
from tests.unified.unified_helpers import check_results, materialize

runner = CliRunner()


def test_remove_is_a_soft_delete_and_projectsync_restores(tmp_path):
    store = OpStore(tmp_path / "opstore.sqlite")
    store.register_project("alpha", "Alpha", "/code/alpha")
    store.register_project("beta", "Beta", "/code/beta")
    removed = store.remove_project("alpha")
    assert removed.ok and removed.message == "removed" and removed.record["removed_at"]
    assert [p["project_key"] for p in store.projects()] == ["beta"]
    kept = {p["project_key"]: p for p in store.projects(include_removed=True)}
    assert kept["alpha"]["removed_at"] and kept["alpha"]["path"] == "/code/alpha"  # the row is kept
    assert store.remove_project("alpha").message.startswith("already removed")
    assert not store.remove_project("nope").ok
    again = store.register_project("alpha", "Alpha", None)
    assert again.message == "restored" and again.record["removed_at"] is None
    assert [p["project_key"] for p in store.projects()] == ["alpha", "beta"]


def test_a_store_from_before_soft_delete_gets_the_column(tmp_path):
    path = tmp_path / "old.sqlite"
    con = sqlite3.connect(path)
    con.execute(
        "CREATE TABLE projects (project_key TEXT PRIMARY KEY, name TEXT NOT NULL, path TEXT, "
        "git_remote TEXT, registered_at TEXT NOT NULL, updated_at TEXT NOT NULL)"
    )
    con.execute("INSERT INTO projects VALUES ('old', 'Old', NULL, NULL, 't', 't')")
    con.commit()
    con.close()
    store = OpStore(path)
    assert store.remove_project("old").ok
    assert store.projects() == [] and store.projects(include_removed=True)[0]["removed_at"]


def test_cli_list_and_remove(chitty_home):
    store = default_store()  # the CLI's: SQLite under CHITTY_HOME, or the PostgreSQL ops schema
    store.register_project("alpha", "Alpha", "/code/alpha", "github.com/o/alpha")
    store.register_project("beta", "Beta", None)
    listed = runner.invoke(app, ["project", "list"])
    assert listed.exit_code == 0, listed.output
    assert listed.stdout.splitlines() == ["alpha\tAlpha\t/code/alpha\tgithub.com/o/alpha", "beta\tBeta\t-\t-"]
    gone = runner.invoke(app, ["project", "remove", "alpha"])
    assert gone.exit_code == 0 and "project alpha removed" in gone.output
    assert runner.invoke(app, ["project", "list"]).stdout.splitlines() == ["beta\tBeta\t-\t-"]
    rows = json.loads(runner.invoke(app, ["project", "list", "--all", "--json"]).stdout)
    assert [(r["project_key"], bool(r["removed_at"])) for r in rows] == [("alpha", True), ("beta", False)]
    back = runner.invoke(app, ["projectsync", "--key", "alpha", "--no-sync", str(chitty_home)])
    assert back.exit_code == 0 and "project alpha restored" in back.output
    assert [ln.split("\t")[0] for ln in runner.invoke(app, ["project", "list"]).stdout.splitlines()] == [
        "alpha",
        "beta",
    ]
    missing = runner.invoke(app, ["project", "remove", "nope"])
    assert missing.exit_code == 1
    assert "no registered project 'nope'" in missing.output
    assert missing.output.strip().splitlines()[-1] == "project remove failed"


def test_a_removed_project_leaves_the_unified_tables_and_comes_back(
    warehouse, warehouse_resource, chitty_home
):
    opstore = chitty_home / "opstore.sqlite"
    store = OpStore(opstore)
    register_projects(store)
    seed_platforms(warehouse)
    assert materialize(warehouse_resource, opstore).success
    keys = set(warehouse.query("SELECT project_key FROM unified.projects")["project_key"])
    assert "chittyos-services" in keys
    linked = warehouse.scalar("SELECT count(*) FROM unified.sessions WHERE project_key = 'chittyos-services'")

    assert store.remove_project("chittyos-services").ok
    result = materialize(warehouse_resource, opstore)
    assert result.success and all(check_results(result).values())
    after = set(warehouse.query("SELECT project_key FROM unified.projects")["project_key"])
    assert after == keys - {"chittyos-services"}  # gone, and not back under another key
    aliases = warehouse.query(
        "SELECT rule, project_key FROM unified.project_aliases "
        "WHERE matched_on = 'project chittyos-services removed'"
    )
    assert len(aliases) >= 2 and set(aliases["rule"]) == {"removed"}  # source records kept
    assert (
        warehouse.scalar("SELECT count(*) FROM unified.sessions WHERE project_key = 'chittyos-services'") == 0
    )

    register_projects(store)  # projectsync again: restored
    assert materialize(warehouse_resource, opstore).success
    assert set(warehouse.query("SELECT project_key FROM unified.projects")["project_key"]) == keys
    assert (
        warehouse.scalar("SELECT count(*) FROM unified.sessions WHERE project_key = 'chittyos-services'")
        == linked
    )
