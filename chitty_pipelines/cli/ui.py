"""``ui``: the Dagster UI on this code location."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Annotated

import typer

from chitty_pipelines import config
from chitty_pipelines.cli.app import app, console


@app.command()
def ui(
    port: Annotated[int, typer.Option(help="Port for the Dagster UI.")] = 3000,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
) -> None:
    """Open the Dagster UI on this code location (``dagster dev``), with runs kept in DAGSTER_HOME
    (default $CHITTY_HOME/dagster)."""
    settings = config.load_settings()
    home = settings.dagster_home
    home.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    console.print(f"Dagster UI on http://{host}:{port} (DAGSTER_HOME={home})")
    cmd = [
        sys.executable,
        "-m",
        "dagster",
        "dev",
        "-m",
        "chitty_pipelines.definitions",
        "-h",
        host,
        "-p",
        str(port),
    ]
    raise typer.Exit(subprocess.call(cmd, env=env))
