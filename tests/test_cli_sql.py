"""``chitty-sync sql``: read-only ad-hoc queries on the warehouse, through the real CLI."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
from pathlib import Path

from chitty_pipelines.warehouse import Warehouse

CLI = Path(__file__).resolve().parents[1] / ".venv" / "bin" / "chitty-sync"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CLI), *args], capture_output=True, text=True, env=dict(os.environ), timeout=120
    )


def _seed(warehouse: Warehouse) -> Warehouse:
    # through the warehouse in use (DuckDB file, or PostgreSQL under --warehouse=postgres)
    with warehouse.transaction() as tx:
        tx.con.execute("CREATE SCHEMA IF NOT EXISTS unified")
        tx.con.execute("CREATE TABLE unified.projects (name TEXT, last_active_at TIMESTAMP)")
        tx.con.execute("INSERT INTO unified.projects VALUES ('alpha', '2026-01-02 03:04:05'), ('beta', NULL)")
    return warehouse


def test_sql_prints_rows_as_json_csv_and_plain(chitty_home: Path, warehouse: Warehouse) -> None:
    _seed(warehouse)
    q = "SELECT name, last_active_at FROM unified.projects ORDER BY name"

    proc = _run("sql", q, "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == [
        {"name": "alpha", "last_active_at": "2026-01-02T03:04:05"},
        {"name": "beta", "last_active_at": None},
    ]
    assert proc.stderr.strip().splitlines()[-1] == "2 rows"

    proc = _run("sql", q, "--csv")
    assert proc.returncode == 0, proc.stderr
    assert list(csv.reader(io.StringIO(proc.stdout))) == [
        ["name", "last_active_at"],
        ["alpha", "2026-01-02 03:04:05"],
        ["beta", ""],
    ]

    proc = _run("sql", q)  # piped: tab-separated, never wrapped
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["name\tlast_active_at", "alpha\t2026-01-02 03:04:05", "beta\t"]


def test_sql_is_read_only_and_errors_name_the_fix(chitty_home: Path, warehouse: Warehouse) -> None:
    if warehouse.kind == "duckdb":  # a PostgreSQL warehouse always exists
        proc = _run("sql", "SELECT 1")
        assert proc.returncode == 1
        assert "CHITTY_WAREHOUSE_PATH" in proc.stderr and "Traceback" not in proc.stderr

    _seed(warehouse)
    proc = _run("sql", "DELETE FROM unified.projects")
    assert proc.returncode == 1
    assert "read-only" in proc.stderr and "Traceback" not in proc.stderr
    assert warehouse.scalar("SELECT count(*) FROM unified.projects") == 2


def test_sql_without_a_statement_says_so(chitty_home: Path, warehouse: Warehouse) -> None:
    """An empty query, or only a comment, ran nothing and failed with an AttributeError."""
    _seed(warehouse)
    for query in ("", "   ", "/* nothing */"):
        proc = _run("sql", query)
        assert proc.returncode == 1, (query, proc.stdout, proc.stderr)
        assert "no SQL statement" in proc.stderr and "Error" not in proc.stderr, (query, proc.stderr)


def test_sql_runs_one_statement_at_a_time(chitty_home: Path, warehouse: Warehouse) -> None:
    """Several statements ran and showed only the last one's rows, silently."""
    _seed(warehouse)
    proc = _run("sql", "SELECT 1 AS a; SELECT name FROM unified.projects")
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    assert "2 statements given" in proc.stderr and proc.stdout == ""
    assert _run("sql", "SELECT 1 AS a;").returncode == 0  # a trailing semicolon is one statement


def test_show_tables_points_at_the_schemas(chitty_home: Path, warehouse: Warehouse) -> None:
    if warehouse.kind != "duckdb":
        return  # SHOW TABLES is DuckDB's; on PostgreSQL it is an error of its own
    _seed(warehouse)
    proc = _run("sql", "SHOW TABLES")
    assert proc.returncode == 0, proc.stderr
    assert "SHOW ALL TABLES" in proc.stderr
    listed = _run("sql", "SHOW ALL TABLES", "--json")
    assert ("unified", "projects") in {(t["schema"], t["name"]) for t in json.loads(listed.stdout)}


def test_sql_row_count_comes_after_the_rows_in_one_stream(chitty_home: Path, warehouse: Warehouse) -> None:
    """``sql ... 2>&1 | less``: the count (stderr) came out above the rows (block-buffered stdout)."""
    _seed(warehouse)
    q = "SELECT name FROM unified.projects ORDER BY name"
    for extra in ((), ("--csv",), ("--json",)):
        proc = subprocess.run(
            [str(CLI), "sql", q, *extra],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            # as a user's shell runs it: stdout block-buffered into the pipe
            env={k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"},
            timeout=120,
        )
        assert proc.returncode == 0, proc.stdout
        lines = proc.stdout.strip().splitlines()
        assert lines[-1] == "2 rows", (extra, lines)
        assert "2 rows" not in lines[:-1], (extra, lines)


def test_piped_rows_stay_one_line_each(chitty_home: Path, warehouse: Warehouse) -> None:
    """A tab or line break inside a value (a transcript message) split its row over several lines
    or shifted its columns in the tab-separated output; backslashes (JSON) stay as they are."""
    _seed(warehouse)
    q = (
        "SELECT 'line 1' || chr(10) || 'line 2' || chr(13) AS text, 'a' || chr(9) || 'b' AS tabbed, "
        """'{"k": "x\\"y"}' AS js"""
    )
    proc = _run("sql", q)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines == ["text\ttabbed\tjs", 'line 1\\nline 2\\r\ta\\tb\t{"k": "x\\"y"}'], lines
    assert json.loads(lines[1].split("\t")[2]) == {"k": 'x"y'}
