"""Output that is not a terminal does not depend on its width: ``env`` and ``status`` piped with
COLUMNS=40 print whole lines (markdown tables), never wrapped or cut."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from chitty_pipelines import config

CLI = [sys.executable, "-m", "chitty_pipelines.cli"]


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not any(k == s.name for s in config.ENV_VARS)}
    # A home path far longer than 40 columns: a table that wraps or cuts would break it.
    home = tmp_path / ("a-rather-long-folder-name-for-the-chitty-home-" * 2)
    (tmp_path / "claude" / "projects").mkdir(parents=True)
    env.update(
        COLUMNS="40",
        CHITTY_HOME=str(home),
        CLAUDE_HOME=str(tmp_path / "claude"),
        DAGSTER_HOME=str(tmp_path / "dagster"),
        CHITTY_OFFLINE="1",
    )
    return env


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=180)


def test_env_piped_is_one_whole_line_per_variable(tmp_path):
    run = _run(["env"], _env(tmp_path))
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert len(lines) == len(config.ENV_VARS) + 2  # header, separator, one line per variable
    for spec, line in zip(config.ENV_VARS, lines[2:], strict=True):
        assert line.startswith(f"| `{spec.name}` |") and line.endswith(" |")
        assert config.scrub(spec.description) in line  # whole, however long (masked like all output)
    assert max(len(line) for line in lines) > 120  # so the width really was ignored


def test_status_piped_is_markdown_of_whole_lines(tmp_path):
    env = _env(tmp_path)
    run = _run(["status", "--no-health"], env)
    assert run.returncode == 0, run.stderr
    out = run.stdout
    assert not set("│┃━─┏┗") & set(out)  # no box drawing in a pipe
    assert env["CHITTY_HOME"] in out  # the long path on one line, not wrapped or cut with "…"
    assert "…" not in out
    table_lines = [ln for ln in out.splitlines() if ln.startswith("|")]
    platforms = [ln for ln in table_lines if ln.count("|") == 7]  # 6 columns
    assert {ln.split("|")[1].strip() for ln in platforms} >= {"platform", "claude_code", "cloudflare"}
    services = [ln for ln in table_lines if ln.count("|") == 6]  # 5 columns
    assert "| canon | not configured | - | never | never |" in services
    assert out.splitlines()[0].startswith("**chitty-pipelines status (")


def test_print_table_keeps_long_cells_whole_when_not_a_terminal():
    import io

    from rich.console import Console
    from rich.table import Table

    from chitty_pipelines.cli.app import print_table

    buffer = io.StringIO()
    console = Console(file=buffer, width=40)
    table = Table(title="t")
    table.add_column("name")
    table.add_column("why")
    table.add_row("x", "[red]" + "a long reason | with a pipe " * 10 + "[/red]")
    print_table(table, console)
    lines = buffer.getvalue().splitlines()
    assert lines[2:4] == ["| name | why |", "|---|---|"]
    assert lines[4] == "| x | " + "a long reason \\| with a pipe " * 10 + " |"


def test_print_table_keeps_brackets_that_are_not_markup():
    import io

    from rich.console import Console
    from rich.table import Table

    from chitty_pipelines.cli.app import print_table

    buffer = io.StringIO()
    table = Table()
    table.add_column("reason")
    table.add_row("register status 'x' [/not markup]")
    print_table(table, Console(file=buffer))
    assert buffer.getvalue().splitlines()[-1] == "| register status 'x' [/not markup] |"


def test_a_terminal_gets_colour_from_markup_only(tmp_path):
    """rich's automatic highlighting coloured whatever looked like a number, path or UUID: a run
    id came out in pieces of colour. Colour now comes from explicit markup alone."""
    env = {**_env(tmp_path), "FORCE_COLOR": "1", "TERM": "xterm-256color"}
    run = _run(["syncall"], env)
    assert run.returncode == 0, run.stderr
    text = run.stdout + run.stderr
    assert "\x1b[32msucceeded\x1b[0m" in text  # a terminal: the markup's colour is there
    line = next(ln for ln in text.splitlines() if "sync_unified" in ln and "materialized" in ln)
    assert re.search(r": \d+ assets materialized, run [0-9a-f-]{36} \(recorded in [^\x1b]+\)", line), line


def test_help_lists_each_command_summary_on_one_line_when_it_fits(tmp_path):
    """typer's rich mode kept a summary's source line breaks: 'status' broke mid-sentence after
    'core services,' however wide the terminal."""
    env = {**_env(tmp_path), "COLUMNS": "250"}
    run = _run(["--help"], env)
    assert run.returncode == 0, run.stderr
    status = next(ln for ln in run.stdout.splitlines() if ln.lstrip("│ ").startswith("status "))
    assert "core services, the latest run of each job" in status, run.stdout


def test_every_command_help_renders():
    """`chitty-sync topics --help` died with rich's MarkupError: its --json help said
    ``GET /api/topic[/CATEGORY]``, which rich reads as a closing tag. Every command's and
    subcommand's --help answers (in process: typer renders the help with rich either way)."""
    import typer
    from typer.testing import CliRunner

    from chitty_pipelines.cli import app

    def paths(command, prefix: tuple[str, ...]) -> list[tuple[str, ...]]:
        found = [prefix]
        if hasattr(command, "commands"):  # a group (typer vendors its own click)
            for name, sub in command.commands.items():
                found += paths(sub, (*prefix, name))
        return found

    every = paths(typer.main.get_command(app), ())
    assert ("topics",) in every and ("topic", "set") in every
    runner = CliRunner()
    for path in every:
        result = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "120"})
        assert result.exit_code == 0, (path, result.output, result.exception)
        assert "Usage" in result.output, (path, result.output)
