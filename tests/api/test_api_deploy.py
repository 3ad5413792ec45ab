"""deploy/: the systemd units pass ``systemd-analyze verify`` (with the install path pointed at
this checkout's venv) and their commands are ones the installed CLI accepts; the Dockerfile's
command is a valid ``serve`` invocation."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
VENV_BIN = Path(sys.executable).parent


def _exec_start(unit: Path) -> list[str]:
    line = next(x for x in unit.read_text().splitlines() if x.startswith("ExecStart="))
    return shlex.split(line.removeprefix("ExecStart="))


@pytest.mark.parametrize("name", ["chitty-sync.service", "chitty-dagster-daemon.service"])
def test_units_verify(name: str, tmp_path: Path) -> None:
    if shutil.which("systemd-analyze") is None:
        pytest.fail("systemd-analyze not found (apt-get install systemd)")
    text = (DEPLOY / name).read_text().replace("/opt/chitty-sync/.venv/bin", str(VENV_BIN))
    text = re.sub(r"^User=.*$|^Group=.*$", "", text, flags=re.M)  # no such user on a test machine
    unit = tmp_path / name
    unit.write_text(text)
    done = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60
    )
    problems = [x for x in done.stderr.splitlines() if str(unit) in x or name in x]
    assert not problems, done.stderr


def test_commands_are_accepted() -> None:
    argv = _exec_start(DEPLOY / "chitty-sync.service")
    assert argv[0].endswith("/chitty-sync") and argv[1] == "serve"
    docker_cmd = next(x for x in (DEPLOY / "Dockerfile").read_text().splitlines() if x.startswith("CMD "))
    for args in (argv[1:], json.loads(docker_cmd.removeprefix("CMD "))[1:]):
        # --help after the options: an unknown option name is rejected before help is printed
        cli = str(VENV_BIN / "chitty-sync")
        done = subprocess.run([cli, *args, "--help"], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
    daemon = _exec_start(DEPLOY / "chitty-dagster-daemon.service")
    assert daemon[1:] == ["run", "-w", "/opt/chitty-sync/workspace.yaml"]
    # The same location name as `chitty-sync ui`: schedule/sensor state is kept per location name.
    from chitty_pipelines.cli.ui import LOCATION_NAME

    (entry,) = yaml.safe_load((DEPLOY.parent / "workspace.yaml").read_text())["load_from"]
    assert entry["python_module"] == {
        "module_name": "chitty_pipelines.definitions",
        "location_name": LOCATION_NAME,
    }
    assert (VENV_BIN / "dagster-daemon").exists()
