"""Stopping ``chitty-sync ui`` stops ``dagster dev`` and everything it started (webserver, daemon):
the CLI runs it in its own process group and signals the whole group."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

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


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_stopping_ui_stops_the_whole_dagster_group(chitty_home: Path, sig: signal.Signals) -> None:
    port = _free_port()
    proc = subprocess.Popen(
        [str(CLI), "ui", "--port", str(port)],
        env={**os.environ, "CHITTY_OFFLINE": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 150
        while not _port_open(port):
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            assert time.monotonic() < deadline, "the Dagster webserver never listened"
            time.sleep(1)
        pgid = _dagster_group(proc.pid)
        assert pgid is not None and pgid != os.getpgrp(), "dagster dev is not in a group of its own"
        assert len(_group_members(pgid)) >= 2, "expected dagster dev and its webserver in the group"

        proc.send_signal(sig)
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0, out
        assert out.strip().splitlines()[-1] == "Dagster UI stopped."
        deadline = time.monotonic() + 10
        while _group_members(pgid) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert _group_members(pgid) == [], "dagster processes survived the stop"
        assert not _port_open(port)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
