"""The code location loads with no credentials at all, and its graph keeps its shape."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg

from chitty_pipelines.platforms.github.resource import DEFAULT_BASE_URL, GitHubResource


def test_definitions_load_without_any_credentials(chitty_home):
    from chitty_pipelines.definitions import defs

    dg.Definitions.validate_loadable(defs)
    assert defs.resolve_job_def("syncall") is not None
    groups = {spec.group_name for spec in defs.resolve_all_asset_specs()}
    assert {"claude_code", "chatgpt", "gemini"} <= groups


def test_every_asset_has_a_group_kinds_and_a_description(chitty_home):
    from chitty_pipelines.definitions import defs

    for spec in defs.resolve_all_asset_specs():
        assert spec.group_name and spec.group_name != "default", spec.key
        assert spec.kinds, spec.key
        assert spec.description, spec.key


def test_dagster_definitions_validate_cli(chitty_home):
    proc = subprocess.run(
        [sys.executable, "-m", "dagster", "definitions", "validate", "-m", "chitty_pipelines.definitions"],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_loading_the_code_location_prints_no_beta_notice(chitty_home):
    """Dagster's own tools (``dagster asset list`` here; the webserver, the daemon and every step
    process alike) print a beta/preview notice of ours on every load unless the code hides it."""
    proc = subprocess.run(
        [sys.executable, "-m", "dagster", "asset", "list", "-m", "chitty_pipelines.definitions"],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "raw_neon/event_store_by_day" in proc.stdout  # the asset whose policy is "beta"
    for notice in ("BetaWarning", "PreviewWarning"):
        assert notice not in proc.stderr, proc.stderr


def test_every_check_has_a_readable_description(chitty_home):
    """The UI shows check descriptions as written: no empty one, no Python repr of a key tuple
    (GitHub's read "('repo_full_name', 'sha') is unique")."""
    from chitty_pipelines.definitions import defs

    graph = defs.resolve_asset_graph()
    assert len(graph.asset_check_keys) > 50
    for key in graph.asset_check_keys:
        description = graph.get_check_spec(key).description or ""
        assert description, key
        assert "('" not in description and "',)" not in description, (key, description)


def _load_owners(env_value: str) -> subprocess.CompletedProcess[str]:
    """Load the code location in a fresh process (the definitions are built once per process)."""
    script = (
        "import json; from chitty_pipelines.definitions import defs; "
        "specs = defs.resolve_all_asset_specs(); "
        "print(json.dumps(sorted({s.key.to_user_string(): s.owners for s in specs}.items())))"
    )
    env = {**os.environ, "CHITTY_ASSET_OWNERS": env_value}
    return subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=180, env=env
    )


def test_chitty_asset_owners_become_every_assets_owners(chitty_home):
    done = _load_owners("team:data, ada@example.com")
    assert done.returncode == 0, done.stderr
    owners = dict(json.loads(done.stdout))
    assert len(owners) > 30
    assert {tuple(o) for o in owners.values()} == {("team:data", "ada@example.com")}

    bad = _load_owners("data")  # neither an email nor team:<name>: the message names the variable
    assert bad.returncode != 0
    assert "CHITTY_ASSET_OWNERS: 'data' is neither an email nor team:<name>" in bad.stderr


def test_dg_cli_loads_the_project(chitty_home):
    """Dagster 1.13's own CLI for projects (`dg`; `dagster definitions validate` and `dagster asset
    materialize` print "superseded, use dg ..."): it needs [tool.dg] in pyproject.toml."""
    repo = Path(__file__).resolve().parents[1]
    dg_cli = Path(sys.executable).parent / "dg"
    checked = subprocess.run(
        [str(dg_cli), "check", "defs"], cwd=repo, capture_output=True, text=True, timeout=180
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "All definitions loaded successfully." in checked.stdout + checked.stderr
    listed = subprocess.run(
        [str(dg_cli), "list", "defs", "--json"], cwd=repo, capture_output=True, text=True, timeout=180
    )
    assert listed.returncode == 0, listed.stderr
    assets = {a["asset_key"] for a in json.loads(listed.stdout)["assets"]}
    assert {"raw_local/claude_messages", "unified/projects", "raw_neon/event_store_by_day"} <= assets


def test_an_invalid_syncall_cron_names_the_variable(chitty_home):
    """Dagster's own error named only the schedule ("invalid cron schedule 'nope' for schedule
    'syncall_schedule'"), never the variable that set it."""
    script = (
        "from chitty_pipelines.definitions import defs; "
        "print(defs.resolve_schedule_def('syncall_schedule').cron_schedule)"
    )
    runs = {
        cron: subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            timeout=180,
            env={**os.environ, "CHITTY_SYNCALL_CRON": cron},
        )
        for cron in ("*/15 * * * *", "nope")
    }
    good, bad = runs["*/15 * * * *"], runs["nope"]
    assert good.returncode == 0 and good.stdout.strip() == "*/15 * * * *", good.stderr
    assert bad.returncode != 0
    assert "CHITTY_SYNCALL_CRON='nope' is not a cron schedule" in bad.stderr, bad.stderr[-2000:]


def test_a_partial_resource_block_in_run_config_falls_back_to_built_in_defaults():
    """What README's "Changing a resource for one run in the Launchpad" warns about, pinned so the
    warning is dropped when Dagster merges a partial block with the configured values."""
    seen: dict[str, object] = {}

    @dg.asset
    def probe(github: GitHubResource) -> None:
        seen.update(base_url=github.base_url, owners=github.owners, token=github.token)

    configured = GitHubResource(base_url="http://127.0.0.1:9/api/v3", owners=["acme"], token="t0")
    result = dg.materialize(
        [probe],
        resources={"github": configured},
        run_config={"resources": {"github": {"config": {"token": "t1"}}}},
    )
    assert result.success
    assert seen == {"base_url": DEFAULT_BASE_URL, "owners": ["acme"], "token": "t1"}
