"""Start-up of the commands that run no Dagster job: ``--help`` and the Claude Code hooks (run by
Claude Code on every prompt and tool call) must not import Dagster, DuckDB or pyarrow. Importing
Dagster alone costs 0.5-1 s on the 2-core test machine; ``--help`` took 1.3-1.5 s and a hook
0.7-0.9 s while the CLI imported it for a warning filter and a few isinstance checks."""

from __future__ import annotations

import json
from pathlib import Path

from tests.import_probe import imported_by

HEAVY = ("dagster", "duckdb", "pyarrow", "pandas", "numpy", "sqlalchemy")


def _run_cli(argv: list[str], stdin: str = "") -> str:
    return (
        "import io, sys\n"
        f"sys.stdin = io.TextIOWrapper(io.BytesIO({stdin.encode()!r}))\n"
        f"sys.argv = {['chitty-sync', *argv]!r}\n"
        "from chitty_pipelines.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
    )


def test_help_imports_no_dagster(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CHITTY_HOME", str(tmp_path / "home"))
    assert imported_by(_run_cli(["--help"]), HEAVY) == []
    assert imported_by(_run_cli(["todos", "--help"]), HEAVY) == []


def test_a_hook_event_is_recorded_without_dagster(monkeypatch, tmp_path: Path) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("CHITTY_HOME", str(home))
    monkeypatch.delenv("CHITTY_SYNC_URL", raising=False)
    monkeypatch.delenv("CHITTY_WAREHOUSE_URL", raising=False)
    event = json.dumps({"session_id": "s-startup", "hook_event_name": "SessionStart", "cwd": str(tmp_path)})
    assert imported_by(_run_cli(["hooks", "run", "SessionStart"], event), HEAVY) == []
    # and it did its work: the session is in this machine's hub store
    log = (home / "hooks" / "hooks.log").read_text()
    assert "SessionStart: session s-startup registered" in log, log


def test_reading_commands_open_the_warehouse_without_dagster(monkeypatch, tmp_path: Path) -> None:
    """`todos` and `env` read the warehouse (DuckDB) and the settings: no Dagster run, no Dagster."""
    monkeypatch.setenv("CHITTY_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("CHITTY_WAREHOUSE_URL", raising=False)
    for argv in (["todos"], ["env"]):
        assert imported_by(_run_cli(argv), ("dagster", "sqlalchemy")) == [], argv
