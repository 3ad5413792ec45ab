"""Stopping ``chitty-sync ui`` stops ``dagster dev`` and everything it started (webserver, daemon):
the CLI runs it in its own process group and signals the whole group."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
CLI = REPO / ".venv" / "bin" / "chitty-sync"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _start_cli(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(CLI), *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def _wait_listening(proc: subprocess.Popen[str], port: int, timeout_s: float) -> None:
    """Until the Dagster webserver ``proc`` started listens on ``port``."""
    deadline = time.monotonic() + timeout_s
    while not _port_open(port):
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
        assert time.monotonic() < deadline, "the Dagster webserver never listened"
        time.sleep(1)


def _group_members(pgid: int) -> list[int]:
    out = subprocess.run(["ps", "-e", "-o", "pid=,pgid="], capture_output=True, text=True).stdout
    return [int(p) for p, g in (line.split() for line in out.splitlines()) if int(g) == pgid]


def _dagster_group(cli_pid: int) -> int | None:
    """The process group of the ``dagster dev`` started by the CLI (a child of the CLI)."""
    out = subprocess.run(["ps", "-e", "-o", "pid=,ppid=,pgid="], capture_output=True, text=True)
    for line in out.stdout.splitlines():
        _pid, ppid, pgid = (int(x) for x in line.split())
        if ppid == cli_pid:
            return pgid
    return None


def _location_names(port: int) -> set[str]:
    query = json.dumps({"query": "{ workspaceOrError { ... on Workspace { locationEntries { name } } } }"})
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql", data=query.encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        entries = json.load(response)["data"]["workspaceOrError"]["locationEntries"]
    return {e["name"] for e in entries}


def _workspace_location_name() -> str:
    (entry,) = yaml.safe_load((REPO / "workspace.yaml").read_text())["load_from"]
    return str(entry["python_module"]["location_name"])


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_stopping_ui_stops_the_whole_dagster_group(chitty_home: Path, sig: signal.Signals) -> None:
    port = _free_port()
    proc = _start_cli(["ui", "--port", str(port)], {**os.environ, "CHITTY_OFFLINE": "1"})
    try:
        _wait_listening(proc, port, 150)
        # The location is named as in the project's workspace.yaml (what `dagster dev` in the
        # project folder loads): schedule/sensor state is kept per location name, so both UIs
        # must show the same schedules on or off.
        assert _location_names(port) == {_workspace_location_name()}
        pgid = _dagster_group(proc.pid)
        assert pgid is not None and pgid != os.getpgrp(), "dagster dev is not in a group of its own"
        assert len(_group_members(pgid)) >= 2, "expected dagster dev and its webserver in the group"

        proc.send_signal(sig)
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0, out
        assert out.strip().splitlines()[-1] == "Dagster UI stopped."
        assert "superseded" not in out, out  # dagster dev's "use 'dg dev' instead" notice
        deadline = time.monotonic() + 10
        while _group_members(pgid) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert _group_members(pgid) == [], "dagster processes survived the stop"
        assert not _port_open(port)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_a_group_that_outlives_sigterm_is_killed_after_the_grace() -> None:
    """A ``dagster dev`` stopped while it was still starting ignored SIGTERM; the CLI then waited
    for it for ever (the grace period was never applied). Here the child ignores SIGTERM."""
    script = (
        "import os, sys\n"
        "from chitty_pipelines.cli import ui\n"
        "ui.STOP_GRACE_S = 2.0\n"
        "child = [sys.executable, '-c', 'import signal, time; signal.signal(signal.SIGTERM, "
        'signal.SIG_IGN); print("ready", flush=True); time.sleep(600)\']\n'
        "sys.exit(ui.run_in_own_group(child, dict(os.environ)))\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, cwd=REPO)
    pgid = None
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        pgid = _dagster_group(proc.pid)
        assert pgid is not None and _group_members(pgid)
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        assert time.monotonic() - started < 15
        assert _group_members(pgid) == [], "the child survived the stop"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if pgid is not None and _group_members(pgid):
            os.killpg(pgid, signal.SIGKILL)


def _descendants(pid: int) -> set[int]:
    out = subprocess.run(["ps", "-e", "-o", "pid=,ppid="], capture_output=True, text=True).stdout
    children: dict[int, list[int]] = {}
    for line in out.splitlines():
        p, pp = (int(x) for x in line.split())
        children.setdefault(pp, []).append(p)
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _dev_group(parent: int) -> int | None:
    """The process group of the ``dagster dev`` child of ``parent``."""
    out = subprocess.run(["ps", "-e", "-o", "pid=,ppid=,pgid=,args="], capture_output=True, text=True)
    for line in out.stdout.splitlines():
        _pid, ppid, pgid, args = line.split(None, 3)
        if int(ppid) == parent and "dagster dev" in args:
            return int(pgid)
    return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    state = subprocess.run(["ps", "-o", "stat=", "-p", str(pid)], capture_output=True, text=True).stdout
    return bool(state.strip()) and not state.strip().startswith("Z")


def test_stopping_demo_ui_stops_dagster_and_the_fakes(tmp_path: Path) -> None:
    """``demo --ui`` stopped by SIGTERM (a service manager, `kill`, a closed terminal) left
    ``dagster dev`` and its webserver running: only Ctrl-C reached them. It now runs dagster dev
    in its own group as ``ui`` does, so every process the demo started ends with it."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
    proc = _start_cli(["demo", "--home", str(tmp_path / "demo"), "--ui", "--port", str(port)], env)
    try:
        _wait_listening(proc, port, 400)  # the demo syncs first
        pgid = _dev_group(proc.pid)  # the demo has other children: its PostgreSQL, for one
        assert pgid is not None and pgid != os.getpgrp(), "dagster dev is not in a group of its own"
        started = _descendants(proc.pid)
        assert len(started) >= 2, "expected dagster dev and its webserver under the demo"

        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=90)
        assert "stopping the fakes" in out, out[-3000:]
        deadline = time.monotonic() + 10
        while any(_alive(p) for p in started) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert [p for p in started if _alive(p)] == [], "processes of the demo survived its stop"
        assert not _port_open(port)
    finally:
        # A failed assertion must not leave the demo's processes behind for the next test.
        leftovers = _descendants(proc.pid)
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for pid in leftovers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
