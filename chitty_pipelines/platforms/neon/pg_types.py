"""PostgreSQL column types -> warehouse (DuckDB) types, and how each value travels.

Values leave PostgreSQL as ``COPY (SELECT ...) TO STDOUT (FORMAT BINARY)``, decoded into Arrow
by adbc-driver-postgresql in C++ (no per-row Python). For each column this module decides:

* the DuckDB type kept in the warehouse (jsonb -> JSON, timestamptz -> TIMESTAMPTZ,
  numeric(p,s) -> DECIMAL(p,s), int[] -> INTEGER[], uuid -> UUID, bytea -> BLOB, ...);
* the expression PostgreSQL selects: the column itself when the driver decodes its binary form
  faithfully (ADBC_NATIVE), else its text (enums, inet, money, numeric, ...), so that the driver
  never hands us an opaque blob of PostgreSQL's binary wire format;
* the DuckDB expression that turns the Arrow value into the warehouse type, where a plain
  insert would not (numeric text -> DECIMAL, which can fail: 'NaN' becomes a reject).

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

# Types adbc-driver-postgresql decodes from COPY BINARY into an Arrow type DuckDB ingests as the
# warehouse type (checked in tests/platforms/test_neon.py::test_type_fidelity). numeric is not
# here: the driver's numeric is an opaque extension type, so it travels as exact text.
ADBC_NATIVE = frozenset(
    {
        "int2", "int4", "int8", "float4", "float8", "bool", "text", "varchar", "bpchar",
        "json", "jsonb", "timestamptz", "timestamp", "date", "time", "bytea", "uuid", "interval",
    }
)  # fmt: skip

# Session settings that make PostgreSQL's text output (of the columns sent as text) parseable by
# DuckDB. Transaction-local (set_config(..., true)) so they also hold behind Neon's
# transaction-mode pooler (which forbids session SET).
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
    target = duck_type(col)
    if col.is_array:
        if target == "JSON":
            return f"to_json({quoted})"  # json, jsonb, bytea, unconstrained numeric elements
        if col.elem_typname in ADBC_NATIVE:
            return quoted  # an Arrow list of the element type
        return f"{quoted}::text[]"  # numeric(p,s), enums, ...: lists of exact text
    if col.typname in ADBC_NATIVE:
        return quoted
    if col.typname == "oid":
        return f"{quoted}::int8"  # unsigned 32-bit: BIGINT holds every value
    return f"{quoted}::text"


def cast_expr(col: PgColumn, quoted: str) -> str:
    """DuckDB expression turning the Arrow value into the warehouse type (NULL on failure, so
    that a bad value becomes a reject instead of sinking the whole chunk). ``quoted`` itself when
    the value needs no conversion (the insert then takes the Arrow column as it is)."""
    target = duck_type(col)
    if target.startswith("DECIMAL"):
        return f"TRY_CAST({quoted} AS {target})"  # numeric(p,s) and numeric(p,s)[] arrive as text
    return quoted
