"""The ``chitty-sync`` Typer app and what every command shares: consoles, event lines, the warehouse."""

from __future__ import annotations

import contextlib
import sys
from typing import Any, TextIO

import typer
from rich.console import Console
from rich.errors import MarkupError
from rich.table import Table
from rich.text import Text

from chitty_pipelines.kernel.secrets import scrub


class _ScrubbingStream:
    """sys.stdout / sys.stderr (looked up at each write, so redirections still apply) with every
    secret masked: errors printed by any command can quote a server's answer."""

    def __init__(self, name: str):
        self._name = name

    @property
    def _stream(self) -> TextIO:
        return getattr(sys, self._name)

    def write(self, text: str) -> int:
        return self._stream.write(scrub(text))

    def __getattr__(self, attr: str) -> Any:  # flush, isatty, fileno, encoding...
        return getattr(self._stream, attr)


app = typer.Typer(
    name="chitty-sync",
    help="Sync ChittyOS platforms and AI sessions into the warehouse, through Dagster.",
    no_args_is_help=True,
    add_completion=False,
    # Tracebacks only with --debug: cli.main() turns any other error into one line naming what
    # to fix, then the outcome.
    pretty_exceptions_enable=False,
)


@app.callback()
def _global_options(
    debug: bool = typer.Option(
        False, "--debug", help="Show (masked) tracebacks of errors; also CHITTY_DEBUG=1."
    ),
) -> None:
    if debug:
        import os

        # Through the environment, so the Dagster step processes and `dagster dev` see it too.
        os.environ["CHITTY_DEBUG"] = "1"
        quiet_connection_pool_errors()


def quiet_connection_pool_errors() -> None:
    """SQLAlchemy's pool logs a failed rollback or close of a pooled connection with its
    traceback ("Exception during reset or similar ... Cannot operate on a closed database": the
    Dagster instance's SQLite storage at the end of a command, or a Ctrl-C landing in a close),
    and with no handler of ours Python's last-resort handler printed it between a command's
    lines. Nothing to act on: kept for --debug / CHITTY_DEBUG=1 only."""
    import logging

    from chitty_pipelines import config

    logging.getLogger("sqlalchemy.pool").setLevel(logging.NOTSET if config.debug() else logging.CRITICAL)


# Whole lines, never wrapped at the terminal's (or a pipe's 80-column) width: scripts grep them.
# No automatic highlighting: rich coloured whatever looked like a number, a path or a UUID (parts
# of run ids, paths and timestamps at random); colour comes only from explicit markup.
console = Console(file=_ScrubbingStream("stderr"), soft_wrap=True, highlight=False)  # type: ignore[arg-type]
out = Console(file=_ScrubbingStream("stdout"), soft_wrap=True, highlight=False)  # type: ignore[arg-type]


def one_line_summaries(typer_app: typer.Typer) -> None:
    """Each command's line in a --help list is its docstring's first paragraph, and typer's rich
    mode keeps that paragraph's source line breaks there (a summary broken mid-sentence where the
    source wraps). Give every command and sub-app that paragraph on one line as its short help;
    its own --help still shows the whole docstring."""
    import inspect

    def first_paragraph(text: object) -> str | None:
        if not isinstance(text, str) or not text.strip():
            return None
        return " ".join(inspect.cleandoc(text).split("\n\n")[0].split())

    for command in typer_app.registered_commands:
        if command.short_help is None:
            command.short_help = first_paragraph(command.help or inspect.getdoc(command.callback))
    for group in typer_app.registered_groups:
        sub = group.typer_instance
        if sub is None:
            continue
        if not isinstance(group.short_help, str):
            group.short_help = first_paragraph(sub.info.help) or group.short_help
        one_line_summaries(sub)


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
    from chitty_pipelines.warehouse.from_settings import warehouse_from_settings

    return warehouse_from_settings()


def print_table(table: Table, console_out: Console | None = None) -> None:
    """A table as a box on a terminal; anywhere else (a pipe, a file) as a markdown table of
    whole lines, so that nothing wraps or is cut at 80 columns (or at $COLUMNS)."""
    target = console_out or out
    if target.is_terminal:
        target.print(table)
        return

    def plain(cell: object) -> str:
        text = str(cell)
        if isinstance(cell, str):
            # cells may carry [red]...[/red]; a reason with brackets of its own stays as is
            with contextlib.suppress(MarkupError):
                text = Text.from_markup(cell).plain
        return text.replace("|", "\\|").replace("\n", " ")

    columns = table.columns
    lines = [f"**{plain(table.title)}**", ""] if table.title else []
    lines.append("| " + " | ".join(plain(c.header) for c in columns) + " |")
    lines.append("|" + "---|" * len(columns))
    for row in zip(*(list(c.cells) for c in columns), strict=True):
        lines.append("| " + " | ".join(plain(cell) for cell in row) + " |")
    target.file.write("\n".join(lines) + "\n")
