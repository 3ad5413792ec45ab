"""A platform set up halfway through the environment (ids without a token, a token and an id
without the rest): it was skipped as "not configured: set GITHUB_TOKEN" while GITHUB_TOKEN was set,
and syncall succeeded. Now syncall, status and check name what is missing, and syncall exits 1.

A credential alone (a GITHUB_TOKEN or CLOUDFLARE_API_TOKEN exported for gh, wrangler or CI) shows
no intent to sync that platform: it stays not configured, and every command names what would
complete it, without failing a laptop's syncall."""

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
        ("github", {"GITHUB_OWNERS": "chittyos"}, "not GITHUB_TOKEN"),
        ("notion", {"NOTION_DATABASES": "0123456789abcdef0123456789abcdef"}, "not NOTION_TOKEN"),
        (
            "drive",
            {"DRIVE_REFRESH_TOKEN": "1//r", "DRIVE_CLIENT_ID": "c"},
            "not DRIVE_FOLDER_ID or DRIVE_SHARED_DRIVE_ID",
        ),
        (
            "cloudflare",
            {"CLOUDFLARE_API_TOKEN": "cf-token-xyz", "CLOUDFLARE_KV_NAMESPACE_IDS": "ns1"},
            "not CLOUDFLARE_ACCOUNT_ID",
        ),
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


@pytest.mark.parametrize(
    ("platform", "name", "missing"),
    [
        ("github", "GITHUB_TOKEN", "GITHUB_OWNERS or GITHUB_REPOSITORIES"),
        ("cloudflare", "CLOUDFLARE_API_TOKEN", "CLOUDFLARE_ACCOUNT_ID"),
    ],
)
def test_a_lone_credential_is_not_configured_and_says_what_completes_it(
    monkeypatch: pytest.MonkeyPatch, platform: str, name: str, missing: str
) -> None:
    for spec in config.ENV_VARS:
        if spec.platform == platform:
            monkeypatch.delenv(spec.name, raising=False)
    monkeypatch.setenv(name, "token-for-another-tool-123456")
    spec = registry.get(platform)
    assert not spec.configured() and spec.half_set() is None
    assert spec.not_configured_hint() == f"{name} is set, but not {missing}: set {missing} to sync it"


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(PREFIXES)}
    return env | {"CHITTY_HOME": str(tmp_path / "home"), "HOME": str(tmp_path), **extra}


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=600)


def test_syncall_status_and_check_fail_naming_the_missing_variable(tmp_path: Path) -> None:
    # NOTION_DATABASES says Notion is meant to sync; the lone GITHUB_TOKEN fails nothing
    env = _env(tmp_path, GITHUB_TOKEN=TOKEN, NOTION_DATABASES="0123456789abcdef0123456789abcdef")
    sync = _cli(env, "syncall")
    assert sync.returncode == 1, sync.stderr[-3000:]
    last = sync.stderr.strip().splitlines()[-2:]
    assert last[0].startswith("✗ notion half configured: NOTION_DATABASES is set but not NOTION_TOKEN")
    assert last[1] == "syncall failed (notion not synced)"
    status = _cli(env, "status")
    (row,) = [line for line in status.stdout.splitlines() if line.startswith("| notion ")]
    assert "FAIL: half configured" in row and "set NOTION_TOKEN" in row
    check = _cli(env, "check")
    assert check.returncode == 1
    (line,) = [line for line in check.stdout.splitlines() if " notion " in line]
    assert line.startswith("FAIL 11") and "set NOTION_TOKEN" in line
    assert not line.endswith("ms)")  # nothing was probed: no "(0 ms)"
    everything = sync.stdout + sync.stderr + status.stdout + status.stderr + check.stdout + check.stderr
    assert TOKEN not in everything


def test_a_lone_token_exported_for_other_tools_fails_nothing(tmp_path: Path) -> None:
    """GITHUB_TOKEN (gh, CI) and CLOUDFLARE_API_TOKEN (wrangler) in a laptop's shell: syncall of
    the local platforms still succeeds; every command says what would make them sync."""
    env = _env(tmp_path, GITHUB_TOKEN=TOKEN, CLOUDFLARE_API_TOKEN="cf-token-lone-123456")
    sync = _cli(env, "syncall")
    assert sync.returncode == 0, sync.stderr[-3000:]
    assert "github (GITHUB_TOKEN is set, but not GITHUB_OWNERS or GITHUB_REPOSITORIES" in sync.stderr
    assert "cloudflare (CLOUDFLARE_API_TOKEN is set, but not CLOUDFLARE_ACCOUNT_ID" in sync.stderr
    assert "half configured" not in sync.stderr
    check = _cli(env, "check")
    (line,) = [line for line in check.stdout.splitlines() if " github " in line]
    assert line.startswith("SKIP 11") and "set GITHUB_OWNERS or GITHUB_REPOSITORIES to sync it" in line
    assert TOKEN not in sync.stdout + sync.stderr + check.stdout + check.stderr
