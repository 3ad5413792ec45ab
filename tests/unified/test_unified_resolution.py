"""Entity resolution of projects over a synthetic organisation with known truth, through Dagster."""

from __future__ import annotations

from itertools import combinations

import pytest

from chitty_pipelines.unified.resolution import normalize_name, normalize_remote, stripped_name
from chitty_pipelines.warehouse.opstore import OpStore
from tests.unified.org_fixture import (
    TRUE_PROJECTS,
    register_projects,
    seed_platforms,
    seed_sessions,
    truth,
)
from tests.unified.unified_helpers import check_results, materialize, metadata


def pairwise(assigned: dict[str, str | None], true: dict[str, str | None]) -> tuple[float, float]:
    """Precision and recall over pairs of source records placed in the same project."""
    ids = [a for a in true if true[a] is not None]
    predicted = {
        frozenset(p)
        for p in combinations(ids, 2)
        if assigned.get(p[0]) and assigned[p[0]] == assigned.get(p[1])
    }
    actual = {frozenset(p) for p in combinations(ids, 2) if true[p[0]] == true[p[1]]}
    hit = len(predicted & actual)
    return (hit / len(predicted) if predicted else 1.0), (hit / len(actual) if actual else 1.0)


@pytest.fixture
def org(warehouse, chitty_home):
    store = OpStore(chitty_home / "opstore.sqlite")
    register_projects(store)
    seed_platforms(warehouse)
    return chitty_home / "opstore.sqlite"


def test_resolution_precision_and_recall_on_the_synthetic_org(warehouse, warehouse_resource, org):
    result = materialize(warehouse_resource, org)
    assert result.success
    aliases = warehouse.query("SELECT alias_id, project_key, rule, matched_on FROM unified.project_aliases")
    assigned = dict(zip(aliases["alias_id"], aliases["project_key"], strict=True))
    true = truth()
    assert set(assigned) == set(true)  # every source record kept, nothing extra (meeting notes, trash, files)
    precision, recall = pairwise(assigned, true)
    assert precision >= 0.95 and recall >= 0.95, (precision, recall)
    # On this fixture the partition is exact: one project per true project, no project extra.
    projects = warehouse.query("SELECT * FROM unified.projects ORDER BY project_key")
    assert len(projects) == len(TRUE_PROJECTS) == 17
    for alias, project in true.items():
        assert (assigned[alias] is None) == (project is None), alias

    rules = dict(zip(aliases["alias_id"], aliases["rule"], strict=True))
    assert rules["registered:opstore.projects:chittyos-services"] == "registered"
    assert rules["github:raw_github.repositories:chittyos/chittyos-services"] == "git_remote"
    assert rules["claude_code:raw_local.claude_sessions:/Users/x/code/services"] == "path"
    assert rules["claude_code:raw_local.claude_sessions:/Users/x/code/chittychat/worker"] == "path_within"
    assert rules["drive:raw_drive.files:drive-0"] == "name_stripped"  # 'ChittyChat Data'
    assert rules["notion:raw_notion.pages:page-7"] == "git_remote"  # 'Canon Service' links its repository
    assert rules["claude_code:raw_local.claude_sessions:/Users/x"] == "ignored_generic"
    assert rules["claude_code:raw_local.claude_sessions:/tmp"] == "ignored_generic"

    by_key = projects.set_index("project_key")
    chat = by_key.loc["chittychat"]
    assert chat["name"] == "ChittyChat" and chat["github_full_name"] == "chittyapps/ChittyChat"
    assert list(chat["platforms"]) == ["github", "chittychat_data", "claude_code", "notion", "drive"]
    assert (chat["claude_sessions"], chat["claude_paths"], chat["notion_pages"], chat["drive_folders"]) == (
        4,
        2,
        1,
        1,
    )
    assert chat["git_remote"] == "github.com/chittyapps/chittychat"
    services = by_key.loc["chittyos-services"]  # the registered key wins over slugs
    assert services["on_registered"] and services["registered_path"] == "/Users/x/code/services"
    assert services["alias_count"] == 4 and services["claude_sessions"] == 2
    # decoys stay apart
    for a, b in [
        ("chitty-id", "chittyid-client"),
        ("chittychat", "chittychat-mcp"),
        ("chittyregistry", "chittyregister"),
    ]:
        assert a in by_key.index and b in by_key.index
    # without the id service every project has a flagged local id
    assert set(projects["id_source"]) == {"local"}
    assert all(i.startswith("local-project-") for i in projects["chitty_id"])
    assert all(check_results(result).values()), check_results(result)
    meta = metadata(result, "unified/projects")
    assert meta["dagster/row_count"] == 17 and meta["rules"]["ignored_generic"] == 2
    assert meta["project_keys"] == sorted(by_key.index) and "chittyos-services" in meta["project_keys"]


def test_only_the_local_platform_present(warehouse, warehouse_resource, chitty_home):
    seed_sessions(warehouse)  # Claude/ChatGPT/Gemini tables only: no GitHub, Notion, Drive tables
    result = materialize(warehouse_resource, chitty_home / "opstore.sqlite")
    assert result.success
    keys = set(warehouse.query("SELECT project_key FROM unified.projects")["project_key"])
    assert keys == {
        "chittychat",
        "chitty-id",
        "chittyid-client",
        "services",
        "chittyrouter",
        "chittyregistry",
        "chittyauth",
        "music-player",
        "chittygateway",
    }
    assert all(check_results(result).values())


def test_an_empty_warehouse_builds_empty_tables(warehouse, warehouse_resource, chitty_home):
    result = materialize(warehouse_resource, chitty_home / "opstore.sqlite")
    assert result.success
    assert warehouse.scalar("SELECT count(*) FROM unified.projects") == 0
    assert warehouse.scalar("SELECT count(*) FROM unified.sessions") == 0
    assert all(check_results(result).values())


@pytest.mark.parametrize(
    ("remote", "expected"),
    [
        ("git@github.com:ChittyOS/chittyid.git", "github.com/chittyos/chittyid"),
        ("https://github.com/chittyos/chittyid", "github.com/chittyos/chittyid"),
        ("https://user@github.com/chittyos/chittyid.git/", "github.com/chittyos/chittyid"),
        ("ssh://git@github.com:22/chittyos/chittyid.git", "github.com/chittyos/chittyid"),
    ],
)
def test_remotes_normalise(remote, expected):
    assert normalize_remote(remote) == expected


def test_names_normalise_without_merging_decoys():
    assert normalize_name("Chitty Chat") == normalize_name("chitty-chat") == normalize_name("ChittyChat")
    assert normalize_name("chitty-id") != normalize_name("chittyid-client")
    assert stripped_name("ChittyChat Data") == "chittychat" and stripped_name("Data") == "data"


@pytest.mark.duckdb_only("renames a column of a DuckDB file written by an older version")
def test_an_old_warehouse_gets_last_active_at_on_open(warehouse, warehouse_resource, org):
    """A warehouse built before the rename (projects.last_activity_at): opening it renames the
    column in place, rows kept, once; the next build writes into it."""
    import duckdb

    from chitty_pipelines.warehouse import Warehouse

    assert materialize(warehouse_resource, org).success
    before = warehouse.query("SELECT project_key, last_active_at FROM unified.projects ORDER BY 1")
    assert before["last_active_at"].notna().any()
    con = duckdb.connect(str(warehouse.path))  # make it look like a warehouse of before the rename
    for table in ("projects", "project_aliases"):
        con.execute(f"ALTER TABLE unified.{table} RENAME COLUMN last_active_at TO last_activity_at")
    con.execute("DELETE FROM ops.migrations WHERE name = '0002_last_active_at'")
    con.close()

    for _ in range(2):  # idempotent: the second open changes nothing
        reopened = Warehouse(warehouse.path)
        after = reopened.query("SELECT project_key, last_active_at FROM unified.projects ORDER BY 1")
        assert after.equals(before)
        columns = set(
            reopened.query(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = 'unified'"
            )["column_name"]
        )
        assert "last_activity_at" not in columns and "last_active_at" in columns
    assert materialize(warehouse_resource, org).success
    assert warehouse.scalar("SELECT count(*) FROM unified.projects") == len(before)
