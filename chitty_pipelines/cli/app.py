"""The ``chitty-sync`` Typer app and what every command shares: consoles, event lines, the warehouse."""

from __future__ import annotations

import typer
from rich.console import Console

app = typer.Typer(
    name="chitty-sync",
    help="Sync ChittyOS platforms and AI sessions into the warehouse, through Dagster.",
    no_args_is_help=True,
    add_completion=False,
)
# Whole lines, never wrapped at the terminal's (or a pipe's 80-column) width: scripts grep them.
console = Console(stderr=True, soft_wrap=True)
out = Console(soft_wrap=True)

_STYLES = {
    "start": ("·", "dim"),
    "asset": ("✓", "green"),
    "check": ("✓", "dim green"),
    "check_failed": ("!", "yellow"),
    "failure": ("✗", "bold red"),
    "log": (" ", "dim"),
}


def print_event(kind: str, text: str) -> None:
    mark, style = _STYLES.get(kind, (" ", ""))
    console.print(f"{mark} {text}", style=style, markup=False, highlight=False)


def warehouse():
    from chitty_pipelines.warehouse.resource import WarehouseResource

    return WarehouseResource.from_settings().get()
