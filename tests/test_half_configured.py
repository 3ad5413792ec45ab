"""A platform set up halfway through the environment (a token without the ids it needs, ids
without a token): it was skipped as "not configured: set GITHUB_TOKEN" while GITHUB_TOKEN was set,
and syncall succeeded. Now syncall, status and check name what is missing, and syncall exits 1."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from chitty_pipelines import config
from chitty_pipelines.platforms import registry

CLI = [sys.executable, "-m", "chitty_pipelines.cli"]
PREFIXES = ("CHITTY_", "CLAUDE_", "DAGSTER_", "NEON_", "NOTION_", "GITHUB_", "CLOUDFLARE_", "DRIVE_")
TOKEN = "ghp_halfconfigured0123456789abcdef"


@pytest.mark.parametrize(
    ("platform", "env", "missing"),
    [
        ("github", {"GITHUB_TOKEN": TOKEN}, "not GITHUB_OWNERS or GITHUB_REPOSITORIES"),
        ("notion", {"NOTION_DATABASES": "0123456789abcdef0123456789abcdef"}, "not NOTION_TOKEN"),
        (
            "drive",
            {"DRIVE_REFRESH_TOKEN": "1//r", "DRIVE_CLIENT_ID": "c"},
            "not DRIVE_FOLDER_ID or DRIVE_SHARED_DRIVE_ID",
        ),
        ("cloudflare", {"CLOUDFLARE_API_TOKEN": "cf-token-xyz"}, "not CLOUDFLARE_ACCOUNT_ID"),
        ("neon", {"NEON_STREAMS": '["public.orders"]'}, "not NEON_DATABASE_URL"),
    ],
)
def test_half_set_names_what_is_missing(
    monkeypatch: pytest.MonkeyPatch, platform: str, env: dict[str, str], missing: str
) -> None:
    for spec in config.ENV_VARS:
        if spec.platform == platform:
            monkeypatch.delenv(spec.name, raising=False)
    assert registry.get(platform).half_set() is None  # nothing set: simply not configured
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    reason = registry.get(platform).half_set()
    assert reason is not None and missing in reason
    assert not registry.get(platform).configured()


def test_syncall_status_and_check_fail_naming_the_missing_variable(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(PREFIXES)}
    env |= {"CHITTY_HOME": str(tmp_path / "home"), "HOME": str(tmp_path), "GITHUB_TOKEN": TOKEN}
    sync = subprocess.run([*CLI, "syncall"], env=env, capture_output=True, text=True, timeout=600)
    assert sync.returncode == 1, sync.stderr[-3000:]
    last = sync.stderr.strip().splitlines()[-2:]
    assert last[0].startswith("✗ github half configured: GITHUB_TOKEN is set but not GITHUB_OWNERS")
    assert last[1] == "syncall failed (github not synced)"
    status = subprocess.run([*CLI, "status"], env=env, capture_output=True, text=True, timeout=600)
    (row,) = [line for line in status.stdout.splitlines() if line.startswith("| github ")]
    assert "FAIL: half configured" in row and "set GITHUB_OWNERS or GITHUB_REPOSITORIES" in row
    check = subprocess.run([*CLI, "check"], env=env, capture_output=True, text=True, timeout=600)
    assert check.returncode == 1
    (line,) = [line for line in check.stdout.splitlines() if " github " in line]
    assert line.startswith("FAIL 11") and "set GITHUB_OWNERS or GITHUB_REPOSITORIES" in line
    assert not line.endswith("ms)")  # nothing was probed: no "(0 ms)"
    everything = sync.stdout + sync.stderr + status.stdout + status.stderr + check.stdout + check.stderr
    assert TOKEN not in everything
