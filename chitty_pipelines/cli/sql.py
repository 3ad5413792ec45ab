"""``sql``: ad-hoc read-only queries on the warehouse, so no separate duckdb CLI is needed."""

from __future__ import annotations

import contextlib
import csv
import datetime as _dt
import decimal
import json
import re
import sys
from typing import Annotated, Any

import typer
from rich.table import Table

from chitty_pipelines import config
from chitty_pipelines.cli.app import app, console, out


def _jsonable(value: Any) -> Any:
    if isinstance(value, (_dt.date, _dt.datetime, _dt.time)):
        return value.isoformat()
    if isinstance(value, (decimal.Decimal, _dt.timedelta)):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    return value


@app.command()
def sql(
    query: Annotated[str, typer.Argument(help='A query, e.g. "SELECT * FROM unified.projects LIMIT 5".')],
    as_json: Annotated[bool, typer.Option("--json", help="One JSON array of row objects.")] = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="CSV with a header line.")] = False,
) -> None:
    """Run a read-only SQL query on the warehouse (CHITTY_WAREHOUSE_PATH, or the PostgreSQL one of
    CHITTY_WAREHOUSE_URL, in DuckDB's dialect there too) and print the rows."""
    import duckdb

    if not query.strip():
        _no_statement()
    _one_statement(query)
    if config.is_set("CHITTY_WAREHOUSE_URL"):
        columns, rows = _postgres_rows(query)
        _print(columns, rows, as_json, as_csv)
        return
    path = config.load_settings().warehouse_path
    if not path.exists():
        console.print(
            f"✗ no warehouse at {path} (CHITTY_WAREHOUSE_PATH): run `.venv/bin/chitty-sync syncall` "
            "or `.venv/bin/chitty-sync demo` first",
            markup=False,
        )
        raise typer.Exit(1)
    try:
        # Read-only: an ad-hoc query can never change the warehouse the pipelines own.
        with duckdb.connect(str(path), read_only=True) as con:
            cursor = con.execute(query)
            if cursor is None:  # DuckDB runs nothing for a query that is only a comment
                _no_statement()
            columns = [d[0] for d in cursor.description or []]
            rows = cursor.fetchall()
    except duckdb.Error as exc:
        console.print(
            f"✗ query failed: {str(exc).splitlines()[0]} (fix the SQL; the warehouse is read-only here)",
            markup=False,
        )
        raise typer.Exit(1) from None
    if not rows and _SHOW_TABLES.match(query):
        # DuckDB's SHOW TABLES lists the main schema only, and every table here lives in a schema
        console.print("(the tables live in schemas: SHOW ALL TABLES lists them)", markup=False)
    _print(columns, rows, as_json, as_csv)


_SHOW_TABLES = re.compile(r"\s*show\s+tables\s*;?\s*$", re.IGNORECASE)


def _one_statement(query: str) -> None:
    """One statement per call: several would run and show only the last one's rows."""
    import duckdb

    try:
        count = len(duckdb.extract_statements(query))
    except duckdb.Error:
        return  # running it names the syntax error
    if count > 1:
        console.print(
            f"✗ {count} statements given: chitty-sync sql runs one at a time (only the last one's "
            "rows would show); run them separately",
            markup=False,
        )
        raise typer.Exit(1)


def _no_statement() -> None:
    console.print(
        '✗ no SQL statement to run: give one, e.g. chitty-sync sql "SELECT * FROM unified.projects LIMIT 5"',
        markup=False,
    )
    raise typer.Exit(1)


def _postgres_rows(query: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    """The query in a READ ONLY transaction (transaction-scoped: fine behind a pooler)."""
    import psycopg
    import sqlglot

    from chitty_pipelines.cli.app import warehouse
    from chitty_pipelines.warehouse.backend import WarehouseUnavailable
    from chitty_pipelines.warehouse.dialect import to_postgres_statements

    try:
        if not to_postgres_statements(query):  # only comments: nothing would run
            _no_statement()
        with warehouse().connect() as con:
            con.raw.commit()  # SET TRANSACTION must open the transaction
            con.raw.execute("SET TRANSACTION READ ONLY")
            cursor = con.execute(query)
            return [d[0] for d in cursor.description or []], cursor.fetchall()
    except WarehouseUnavailable as exc:
        console.print(f"✗ {exc}", markup=False)
        raise typer.Exit(1) from None
    except (psycopg.Error, sqlglot.errors.SqlglotError) as exc:
        console.print(f"✗ query failed: {str(exc).splitlines()[0]} ({_postgres_hint(exc)})", markup=False)
        raise typer.Exit(1) from None


def _postgres_hint(exc: Exception) -> str:
    """What to do about a failed query: not always the SQL's fault on a shared warehouse."""
    import psycopg

    from chitty_pipelines.cli.app import warehouse

    if isinstance(exc, psycopg.errors.InsufficientPrivilege):
        return (
            "the role of CHITTY_WAREHOUSE_URL may not read it: it needs USAGE on the schema and "
            "SELECT on the table"
        )
    if isinstance(exc, psycopg.errors.UndefinedTable):
        wh = warehouse()
        with contextlib.suppress(psycopg.Error), wh.connect() as con:
            synced = con.execute(
                "SELECT count(*) FROM information_schema.schemata WHERE schema_name LIKE 'raw\\_%'"
            ).fetchone()[0]
            if not synced:
                return f"nothing is synced into the warehouse {wh.location} yet: run `chitty-sync syncall`"
    return "fix the SQL; the warehouse is read-only here"


_TSV_ESCAPES = str.maketrans({"\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _tsv_cell(value: Any) -> str:
    """A value of the tab-separated output on one line: a tab or line break inside a value (a
    transcript message, a multi-line description) split its row into several lines or shifted its
    columns for ``cut``, ``awk`` and ``wc -l``. They are written as ``\\t``, ``\\n``, ``\\r``;
    backslashes stay as they are, so a JSON column still parses (``--csv`` and ``--json`` keep
    every value exact)."""
    return "" if value is None else str(value).translate(_TSV_ESCAPES)


def _print(columns: list[str], rows: list[Any], as_json: bool, as_csv: bool) -> None:
    if as_json:
        out.print_json(json.dumps([dict(zip(columns, map(_jsonable, r), strict=True)) for r in rows]))
    elif as_csv:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows(rows)
        sys.stdout.flush()
    elif sys.stdout.isatty():
        table = Table(*columns)
        for r in rows:
            table.add_row(*("" if v is None else str(v) for v in r))
        out.print(table)
    else:
        # Piped: tab-separated, independent of any terminal width; one line per row.
        print("\t".join(_tsv_cell(c) for c in columns))
        for r in rows:
            print("\t".join(_tsv_cell(v) for v in r))
    # The rows first: piped, stdout is block-buffered and the count (stderr) is not, so with
    # 2>&1 the count came out above the header.
    sys.stdout.flush()
    console.print(f"{len(rows)} row{'s' if len(rows) != 1 else ''}", markup=False, highlight=False)
