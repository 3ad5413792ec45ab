"""Row tuples -> Arrow tables, without Dagster: parse workers (parallel.py) import this module,
and a worker that imported Dagster would pay ~1.5 s of start-up for nothing."""

from __future__ import annotations

import pyarrow as pa

RESULTS_SCHEMA = pa.schema(
    [
        ("session_id", pa.string()),
        ("tool_use_id", pa.string()),
        ("is_error", pa.bool_()),
        ("result_at", pa.timestamp("us", tz="UTC")),
        ("agent_id", pa.string()),
    ]
)


def columns_to_arrow(schema: pa.Schema, rows: list[tuple], *, pandas_free: bool = True) -> pa.Table:
    """Row tuples (in the schema's column order, possibly short of trailing columns) -> Arrow.

    ``pandas_free``: small columns are laid out without pyarrow's pandas import (the sync step of
    a few new lines); a parse worker passes False: it converts megabytes, where pyarrow's own
    conversion is the faster one and the import is paid once per worker."""
    if pandas_free:
        # Imported here: the warehouse package imports Dagster, which a worker must not.
        from chitty_pipelines.warehouse.arrow_columns import column_to_arrow as build
    else:
        build = _pa_array
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(schema)
    arrays = []
    for i, f in enumerate(schema):
        if i >= len(columns):
            arrays.append(pa.nulls(len(rows), f.type))
        elif pa.types.is_timestamp(f.type):
            arrays.append(_timestamps(columns[i], f.type, build(columns[i], pa.string())))
        else:
            arrays.append(build(columns[i], f.type))
    return pa.Table.from_arrays(arrays, schema=schema)


def _pa_array(values: tuple, type_: pa.DataType) -> pa.Array:
    return pa.array(values, type=type_)


def _timestamps(values: tuple, type_: pa.DataType, strings: pa.Array | None = None) -> pa.Array:
    """ISO strings (``strings``: already as Arrow) -> timestamps. Arrow's cast is ~10x faster than
    converting datetime objects; a value it cannot parse (a well-shaped but impossible date)
    becomes null, not a failed sync."""
    if strings is None:
        strings = pa.array(values, type=pa.string())
    try:
        return strings.cast(type_)
    except pa.ArrowInvalid:
        return pa.array([_one_timestamp(v, type_) for v in values], type=type_)


def _one_timestamp(value: str | None, type_: pa.DataType):
    try:
        return pa.scalar(value, pa.string()).cast(type_) if value else None
    except pa.ArrowInvalid:
        return None
