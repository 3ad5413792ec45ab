"""Row tuples -> Arrow tables, without Dagster: parse workers (parallel.py) import this module,
and a worker that imported Dagster would pay ~1.5 s of start-up for nothing."""

from __future__ import annotations

import pyarrow as pa

from chitty_pipelines.warehouse.arrow_columns import column_to_arrow

RESULTS_SCHEMA = pa.schema(
    [
        ("session_id", pa.string()),
        ("tool_use_id", pa.string()),
        ("is_error", pa.bool_()),
        ("result_at", pa.timestamp("us", tz="UTC")),
        ("agent_id", pa.string()),
    ]
)


def columns_to_arrow(schema: pa.Schema, rows: list[tuple]) -> pa.Table:
    """Row tuples (in the schema's column order, possibly short of trailing columns) -> Arrow."""
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(schema)
    arrays = []
    for i, f in enumerate(schema):
        if i >= len(columns):
            arrays.append(pa.nulls(len(rows), f.type))
        elif pa.types.is_timestamp(f.type):
            arrays.append(_timestamps(columns[i], f.type))
        else:
            arrays.append(column_to_arrow(columns[i], f.type))
    return pa.Table.from_arrays(arrays, schema=schema)


def _timestamps(values: tuple, type_: pa.DataType) -> pa.Array:
    """ISO strings -> timestamps. Arrow's cast is ~10x faster than converting datetime objects;
    a value it cannot parse (a well-shaped but impossible date) becomes null, not a failed sync."""
    strings = column_to_arrow(values, pa.string())
    try:
        return strings.cast(type_)
    except pa.ArrowInvalid:
        return pa.array([_one_timestamp(v, type_) for v in values], type=type_)


def _one_timestamp(value: str | None, type_: pa.DataType):
    try:
        return pa.scalar(value, pa.string()).cast(type_) if value else None
    except pa.ArrowInvalid:
        return None
