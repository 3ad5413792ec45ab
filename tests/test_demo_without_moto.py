"""`chitty-sync demo` works with what the README installs: without moto (a test extra) it leaves
Cloudflare R2 out, says so, and everything else still syncs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

# Loaded by the demo's interpreter (and its Dagster step processes) through PYTHONPATH: makes
# ``import moto`` fail exactly as it does where the test extras are not installed.
_BLOCK_MOTO = """
import sys
from importlib.abc import MetaPathFinder

class _NoMoto(MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "moto" or name.startswith("moto."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, _NoMoto())
"""


def test_demo_without_moto_skips_r2_and_succeeds(tmp_path: Path) -> None:
    blocker = tmp_path / "site"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(_BLOCK_MOTO)
    home = tmp_path / "home"
    env = {**os.environ, "PYTHONPATH": str(blocker), "CHITTY_HOME": str(tmp_path / "elsewhere")}
    env.pop("DAGSTER_HOME", None)
    run = subprocess.run(
        [sys.executable, "-c", "from chitty_pipelines.cli import main; main()", "demo", "--home", str(home)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = run.stdout + run.stderr
    assert "ModuleNotFoundError" not in output
    assert run.returncode == 0, output[-4000:]
    assert "cloudflare R2" in output and "skipped: moto is not installed" in output
    assert "syncall succeeded" in output
