"""``ui``: the Dagster UI on this code location."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer

from chitty_pipelines import config
from chitty_pipelines.cli.app import app, console

# How long the dagster dev group gets to shut down after SIGTERM before it is killed.
STOP_GRACE_S = 10.0

# The code location's name, as in the project's workspace.yaml and pyproject's [tool.dagster]:
# Dagster keys schedule and sensor state (on/off, cursors) by location name, so `dagster dev -m
# chitty_pipelines.definitions` (location "chitty_pipelines.definitions") showed a schedule turned
# on from `dagster dev` in the project folder as stopped, on the same DAGSTER_HOME.
LOCATION_NAME = "chitty_pipelines"


def workspace_file(dagster_home: Path) -> Path:
    """A workspace file in DAGSTER_HOME loading the definitions under :data:`LOCATION_NAME`
    (``dagster dev -m`` cannot name the location; the CLI may run far from the project folder)."""
    path = dagster_home / "chitty-workspace.yaml"
    path.write_text(
        "# Written by chitty-sync (ui, demo --ui) on each start.\n"
        "load_from:\n"
        "  - python_module:\n"
        "      module_name: chitty_pipelines.definitions\n"
        f"      location_name: {LOCATION_NAME}\n"
    )
    return path


# dagster dev's own notice on every start ("SupersessionWarning: Function `dev_command` is
# superseded ... Use 'dg dev' instead"): addressed to someone who typed `dagster dev`, it told
# users of `chitty-sync ui` to switch to a command that names the code location differently.
_DEV_NOTICE = "ignore:Function `dev_command` is superseded"


def dev_command(dagster_home: Path, host: str, port: int) -> list[str]:
    """``dagster dev`` on this code location, with the project's location name."""
    ws = workspace_file(dagster_home)
    python = [sys.executable, "-W", _DEV_NOTICE]
    return [*python, "-m", "dagster", "dev", "-w", str(ws), "-h", host, "-p", str(port)]


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, sig)


def run_in_own_group(cmd: list[str], env: dict[str, str]) -> int:
    """Run ``cmd`` in its own process group and stop the whole group when we are stopped.

    ``dagster dev`` spawns the webserver and the daemon as children; forwarding Ctrl-C / SIGTERM
    only to ``dagster dev`` (or not at all) left them running. A group of their own lets us
    signal all of them at once, and kill whatever is left after the grace period.
    """
    proc = subprocess.Popen(cmd, env=env, start_new_session=True)
    pgid = proc.pid  # start_new_session: the child leads a new session and process group
    stopping: list[float] = []  # when the first stop signal came

    def forward(_signum: int, _frame: FrameType | None) -> None:
        if not stopping:
            stopping.append(time.monotonic())
        _signal_group(pgid, signal.SIGTERM)

    previous = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        # Polled: a wait already under way when the signal comes is resumed after the handler
        # with the timeout it began with, so a wait without one never reached the kill below
        # (a dagster dev stopped while it was starting outlived SIGTERM and Ctrl-C for good).
        while True:
            try:
                rc = proc.wait(timeout=0.25)
                break
            except subprocess.TimeoutExpired:
                if stopping and time.monotonic() - stopping[0] >= STOP_GRACE_S:
                    _signal_group(pgid, signal.SIGKILL)
                    rc = proc.wait()
                    break
    finally:
        # Whatever the leader left behind (webserver, daemon) goes with it.
        _signal_group(pgid, signal.SIGKILL)
        for s, handler in previous.items():
            signal.signal(s, handler)
    return 0 if stopping else rc


@app.command()
def ui(
    port: Annotated[int, typer.Option(help="Port for the Dagster UI.")] = 3000,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
) -> None:
    """Open the Dagster UI on this code location (``dagster dev``), with runs kept in DAGSTER_HOME
    (default $CHITTY_HOME/dagster). Ctrl-C or SIGTERM stops dagster dev and all its processes."""
    settings = config.load_settings()
    home = settings.dagster_home
    from chitty_pipelines.cli.runner import ensure_instance_folder

    ensure_instance_folder(home)  # the same dagster.yaml as the runs the CLI records
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    console.print(f"Dagster UI on http://{host}:{port} (DAGSTER_HOME={home})")
    rc = run_in_own_group(dev_command(home, host, port), env)
    console.print("Dagster UI stopped." if rc == 0 else f"Dagster UI exited with code {rc}.")
    raise typer.Exit(rc)
