"""The shape of the code location: imports flow one way, and the asset graph changes only on purpose.

The graph snapshot (like dagster-open-platform's) makes every change to asset keys, groups,
dependencies, checks or partitions show up in review as a diff of tests/snapshots/asset_graph.json.
Regenerate it after an intended change with ``CHITTY_UPDATE_SNAPSHOT=1 pytest tests/test_architecture.py``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import dagster as dg

from chitty_pipelines.definitions import defs
from chitty_pipelines.platforms import registry

ROOT = Path(__file__).resolve().parents[1]
SNAPSHOT = Path(__file__).parent / "snapshots" / "asset_graph.json"


def test_imports_flow_one_way() -> None:
    """config -> kernel/warehouse -> chittyos -> platforms -> topics/unified -> ops -> definitions ->
    demo/cli, and no fake is imported by code a run executes (.importlinter holds the contracts)."""
    lint = Path(sys.executable).with_name("lint-imports")
    run = subprocess.run([str(lint)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert "Contracts: 2 kept, 0 broken." in run.stdout


def test_every_platform_folder_has_the_contract_files() -> None:
    folders = {
        p.name
        for p in (ROOT / "chitty_pipelines" / "platforms").iterdir()
        if p.is_dir() and p.name != "__pycache__"
    }
    assert folders == set(registry.NAMES), (
        f"folders without a registry line: {sorted(folders - set(registry.NAMES))}; "
        f"registry lines without a folder: {sorted(set(registry.NAMES) - folders)}"
    )
    for spec in registry.PLATFORMS:
        # The contract: the same seven files in every platform folder.
        for name in ("resource.py", "streams.py", "assets.py", "health.py", "fake.py", "seed.py", "feeds.py"):
            assert (spec.folder / name).is_file(), f"{spec.name} lacks {name}"


def test_no_platform_imports_another() -> None:
    """One folder per platform: what two platforms share lives in the kernel (a platform's code may
    import the registry, never another platform's modules), so a folder can be read, copied or
    removed on its own."""
    import ast

    crossing = []
    for spec in registry.PLATFORMS:
        for path in sorted(spec.folder.glob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                names = [node.module or ""] if isinstance(node, ast.ImportFrom) else []
                names += [a.name for a in node.names] if isinstance(node, ast.Import) else []
                for name in names:
                    parts = [*name.split("."), ""]
                    if parts[:2] == ["chitty_pipelines", "platforms"] and parts[2] not in (
                        "",
                        spec.name,
                        "registry",
                    ):
                        crossing.append(f"platforms/{spec.name}/{path.name} imports {name}")
    assert not crossing, crossing


def test_every_platform_asset_is_in_its_platforms_group() -> None:
    groups = {spec.key: spec.group_name for spec in defs.resolve_all_asset_specs()}
    platform_groups = {g for g in groups.values() if g not in {"unified", "ops", "publish"}}
    assert platform_groups == set(registry.NAMES)


def _graph() -> dict[str, dict]:
    graph = defs.resolve_asset_graph()
    out: dict[str, dict] = {}
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        partitions = node.partitions_def
        out[key.to_user_string()] = {
            "group": node.group_name,
            "kinds": sorted(node.kinds),
            "deps": sorted(k.to_user_string() for k in node.parent_keys),
            "checks": sorted(c.name for c in node.check_keys),
            "partitions": type(partitions).__name__ if partitions else None,
            "executable": node.is_executable,
        }
    return out


def graph_diff(current: dict[str, dict], expected: dict[str, dict]) -> str:
    """What changed, key by key: pytest's own dict diff hides which assets differ ("Omitting 37
    identical items") and truncates the rest."""
    lines = [f"+ {key}" for key in sorted(current.keys() - expected.keys())]
    lines += [f"- {key}" for key in sorted(expected.keys() - current.keys())]
    for key in sorted(current.keys() & expected.keys()):
        old, new = expected[key], current[key]
        for field in sorted(old.keys() | new.keys()):
            before, after = old.get(field), new.get(field)
            if before == after:
                continue
            if isinstance(before, list) and isinstance(after, list):  # deps, checks, kinds: what moved
                moved = [f"+{x}" for x in after if x not in before] + [
                    f"-{x}" for x in before if x not in after
                ]
                lines.append(f"~ {key} {field}: {' '.join(moved)}")
            else:
                lines.append(f"~ {key} {field}: {before!r} -> {after!r}")
    return "\n".join(lines)


def test_asset_graph_snapshot() -> None:
    current = _graph()
    if os.environ.get("CHITTY_UPDATE_SNAPSHOT") or not SNAPSHOT.exists():
        SNAPSHOT.write_text(json.dumps(current, indent=1, sort_keys=True) + "\n")
    expected = json.loads(SNAPSHOT.read_text())
    assert current == expected, (
        "asset graph changed; if intended, regenerate with CHITTY_UPDATE_SNAPSHOT=1 and review the diff:\n"
        + graph_diff(current, expected)
    )


def test_graph_diff_names_each_changed_asset() -> None:
    expected = {"a/x": {"deps": ["c/old"], "group": "g"}, "a/gone": {"deps": [], "group": "g"}}
    current = {"a/x": {"deps": ["b/new"], "group": "h"}, "b/new": {"deps": [], "group": "h"}}
    assert graph_diff(current, expected).splitlines() == [
        "+ b/new",
        "- a/gone",
        "~ a/x deps: +b/new -c/old",
        "~ a/x group: 'g' -> 'h'",
    ]


def test_unconfigured_platforms_are_not_steps() -> None:
    """With only Claude Code files present (the test sandbox), sync_platforms has one platform."""
    job = defs.resolve_job_def("sync_platforms")
    groups = {
        g
        for a in defs.resolve_asset_graph().assets_defs
        if a.is_executable and a.node_def.name in {n.name for n in job.nodes_in_topological_order}
        for g in a.group_names_by_key.values()
    }
    assert groups <= {spec.name for spec in registry.configured()}
    # Every API platform, including one added after this test was written: none is set up here.
    api_platforms = [spec.name for spec in registry.PLATFORMS if not spec.local]
    assert api_platforms and not set(api_platforms) & {spec.name for spec in registry.configured()}
    assert not re.search("|".join(api_platforms), " ".join(n.name for n in job.nodes_in_topological_order))
    assert isinstance(defs.resolve_job_def("sync_unified"), dg.JobDefinition)


def test_every_table_asset_names_its_table_before_any_run() -> None:
    """The UI shows an asset's table and columns from its definition, before a first run: every
    asset but the publish step is one warehouse table. Neon's columns follow the upstream table,
    so only its name is known up front."""
    for spec in defs.resolve_all_asset_specs():
        if spec.group_name == "publish":
            continue
        name = spec.key.to_user_string()
        assert "dagster/table_name" in spec.metadata, f"{name} names no table"
        if spec.group_name != "neon":
            assert "dagster/column_schema" in spec.metadata, f"{name} declares no columns"
