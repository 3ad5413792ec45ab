"""``sql``: ad-hoc read-only queries on the warehouse, so no separate duckdb CLI is needed."""

from __future__ import annotations

import csv
import datetime as _dt
import decimal
import json
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
    """Run a read-only SQL query on the warehouse (CHITTY_WAREHOUSE_PATH) and print the rows."""
    import duckdb

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
            columns = [d[0] for d in cursor.description or []]
            rows = cursor.fetchall()
    except duckdb.Error as exc:
        console.print(
            f"✗ query failed: {str(exc).splitlines()[0]} (fix the SQL; the warehouse is read-only here)",
            markup=False,
        )
        raise typer.Exit(1) from None
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
        # Piped: tab-separated, independent of any terminal width.
        print("\t".join(columns))
        for r in rows:
            print("\t".join("" if v is None else str(v) for v in r))
    console.print(f"{len(rows)} row{'s' if len(rows) != 1 else ''}", markup=False, highlight=False)
