"""A CLAUDE_HOME or CHITTY_EXPORTS_DIR naming a folder that does not exist (issue 15): syncall
succeeds with the rest, its summary warns naming the variable, the last line says "with
warnings", and `status` shows the warnings."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from chitty_pipelines import config
from chitty_pipelines.cli import app

runner = CliRunner()


@pytest.mark.timeout(300)
def test_syncall_and_status_warn_about_missing_folders(
    chitty_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    for spec in config.ENV_VARS:
        if spec.platform and spec.platform not in ("claude_code", "chatgpt", "gemini"):
            monkeypatch.delenv(spec.name, raising=False)
    monkeypatch.setenv("CHITTY_OFFLINE", "1")
    monkeypatch.setenv("CHITTY_MAX_CONCURRENT_PLATFORMS", "1")  # in this process: quicker
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    monkeypatch.setenv("CLAUDE_HOME", str(tmp_path / "typo-claude"))
    monkeypatch.setenv("CHITTY_EXPORTS_DIR", str(tmp_path / "typo-exports"))

    # A process of its own, as a user runs it: the jobs are built from what this environment
    # configures (an in-process invoke would reuse the definitions an earlier test imported).
    run = subprocess.run(
        [sys.executable, "-m", "chitty_pipelines.cli", "syncall"],
        capture_output=True, text=True, timeout=280, env=dict(os.environ),
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    lines = run.stderr.strip().splitlines()  # progress and the outcome go to stderr
    assert lines and lines[-1] == "syncall succeeded with 2 warnings", run.stdout + run.stderr
    warned = [ln for ln in lines if ln.startswith("! warning: ")]
    assert any(f"CLAUDE_HOME points to {tmp_path / 'typo-claude'}" in ln for ln in warned)
    assert any(f"CHITTY_EXPORTS_DIR points to {tmp_path / 'typo-exports'}" in ln for ln in warned)
    assert len(set(warned)) == 2  # one per cause, not one per table (shown in progress, then summed up)
    # The step's log said it once per table too (five identical lines for Claude Code's tables).
    logged = [ln for ln in lines if "CLAUDE_HOME points to" in ln and not ln.startswith("! warning: ")]
    assert len(logged) == 1, "\n".join(logged)

    status = runner.invoke(app, ["status", "--no-health"])
    assert status.exit_code == 0, status.output
    assert "warning: claude_code: CLAUDE_HOME points to" in status.stdout
    doc = json.loads(runner.invoke(app, ["status", "--json", "--no-health"]).stdout)
    assert {w["source"] for w in doc["warnings"]} == {"claude_code", "chatgpt/gemini"}
