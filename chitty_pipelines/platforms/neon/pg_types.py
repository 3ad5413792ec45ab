"""PostgreSQL column types -> warehouse (DuckDB) types, and how each value travels.

Values leave PostgreSQL as CSV text from ``COPY ... TO STDOUT`` (the fastest path out of the
server) and are cast to their DuckDB type in one vectorized step. For each column this module
decides three things:

* the DuckDB type kept in the warehouse (jsonb -> JSON, timestamptz -> TIMESTAMPTZ,
  numeric(p,s) -> DECIMAL(p,s), int[] -> INTEGER[], uuid -> UUID, bytea -> BLOB, ...);
* the expression PostgreSQL selects, when its text output is not something DuckDB parses
  (bytea becomes hex, arrays become JSON arrays);
* the DuckDB expression that turns the text back into the typed value.

Numerics stay exact: numeric(p,s) with p <= 38 becomes DECIMAL(p,s). Unconstrained numeric (or
p > 38) has no exact DuckDB equivalent, so it is kept as its exact decimal text (VARCHAR) rather
than rounded through a double.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Scalar PostgreSQL type names (pg_type.typname) -> DuckDB type.
_SCALARS: dict[str, str] = {
    "int2": "SMALLINT",
    "int4": "INTEGER",
    "int8": "BIGINT",
    "oid": "BIGINT",
    "float4": "REAL",
    "float8": "DOUBLE",
    "bool": "BOOLEAN",
    "text": "VARCHAR",
    "varchar": "VARCHAR",
    "bpchar": "VARCHAR",
    "name": "VARCHAR",
    "citext": "VARCHAR",
    "json": "JSON",
    "jsonb": "JSON",
    "timestamptz": "TIMESTAMPTZ",
    "timestamp": "TIMESTAMP",
    "date": "DATE",
    "time": "TIME",
    "interval": "INTERVAL",
    "uuid": "UUID",
    "bytea": "BLOB",
}

# Types a stream may use as its incremental cursor, and the PostgreSQL cast for the stored value.
CURSOR_CASTS: dict[str, str] = {
    "timestamptz": "timestamptz",
    "timestamp": "timestamp",
    "date": "date",
    "int2": "bigint",
    "int4": "bigint",
    "int8": "bigint",
    "numeric": "numeric",
}
TIME_CURSORS = frozenset({"timestamptz", "timestamp", "date"})

_NUMERIC = re.compile(r"numeric\((\d+),(\d+)\)")

# Session settings that make PostgreSQL's text output parseable by DuckDB. Applied with SET LOCAL
# so they also hold behind Neon's transaction-mode pooler (which forbids session SET).
SESSION_SETTINGS: dict[str, str] = {
    "TimeZone": "UTC",
    "DateStyle": "ISO, YMD",
    "IntervalStyle": "postgres",
    "extra_float_digits": "1",
}


@dataclass(frozen=True)
class PgColumn:
    """One column as the catalog describes it (domains already resolved to their base type)."""

    name: str
    typname: str  # pg_type.typname of the (base) type, e.g. int4, _text for text[]
    formatted: str  # format_type(): numeric(12,2), timestamp with time zone, text[]
    elem_typname: str | None = None  # element type of an array
    not_null: bool = False

    @property
    def is_array(self) -> bool:
        return self.elem_typname is not None


def _scalar_type(typname: str, formatted: str) -> str:
    if typname == "numeric":
        m = _NUMERIC.search(formatted.replace(" ", ""))
        if m and int(m.group(1)) <= 38:
            return f"DECIMAL({m.group(1)},{m.group(2)})"
        return "VARCHAR"  # exact text; see the module docstring
    return _SCALARS.get(typname, "VARCHAR")  # enums, inet, money, ...: their text form


def duck_type(col: PgColumn) -> str:
    if col.is_array:
        elem = col.elem_typname or ""
        if elem in ("bytea", "json", "jsonb") or (elem == "numeric" and "(" not in col.formatted):
            return "JSON"  # no faithful typed list for these: keep the array as JSON
        return _scalar_type(elem, col.formatted) + "[]"
    return _scalar_type(col.typname, col.formatted)


def select_expr(col: PgColumn, quoted: str) -> str:
    """What PostgreSQL selects for ``col`` (``quoted`` is the already-quoted identifier)."""
    if col.is_array:
        return f"to_json({quoted})"
    if col.typname == "bytea":
        return f"encode({quoted}, 'hex')"
    return quoted


def cast_expr(col: PgColumn, quoted: str) -> str:
    """DuckDB expression turning the CSV text back into the warehouse type (NULL on failure,
    so that a bad value becomes a reject instead of sinking the whole chunk)."""
    target = duck_type(col)
    if col.typname == "bytea" and not col.is_array:
        return f"TRY(unhex({quoted}))"
    if col.is_array and target.endswith("[]"):
        elem = target[:-2].replace('"', "")
        return f"TRY(from_json({quoted}, '[\"{elem}\"]'))"
    if target == "VARCHAR":
        return quoted
    return f"TRY_CAST({quoted} AS {target})"
