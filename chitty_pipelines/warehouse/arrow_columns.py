"""Python values -> Arrow arrays, built from buffers so that pandas is never imported.

``pa.array`` asks pyarrow's pandas shim whether its input is a pandas object, and the shim's first
question imports pandas: 0.3 s of a sync that writes a handful of rows, which is the common sync
(a session gained a few lines). The types the file platforms write (strings, integers, booleans,
lists of strings) are laid out here directly: validity bitmap, offsets, values. Any value these
builders do not take as ``pa.array`` would (a number in a string column, a lone surrogate, a type
not listed) sends the whole column to ``pa.array``, so results and errors stay pyarrow's own
(tests/test_arrow_columns.py compares both on generated columns).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa

_INTEGERS = {pa.int64(): np.int64, pa.int32(): np.int32}
# Past this many values pyarrow's own conversion is the faster one (integers ~10x, measured) and
# the import is a small part of the work: larger columns go to ``pa.array``.
BUFFER_PATH_MAX = 4096


class _Unsupported(Exception):
    """A value the buffer path does not lay out as ``pa.array`` would: let pyarrow do it."""


def column_to_arrow(values: Sequence, type_: pa.DataType) -> pa.Array:
    """``pa.array(values, type=type_)``, without importing pandas for the common types."""
    if len(values) > BUFFER_PATH_MAX:
        return pa.array(values, type=type_)
    try:
        return _build(values, type_)
    except _Unsupported:
        return pa.array(values, type=type_)


def positions(n: int) -> pa.Array:
    """0, 1, ..., n - 1 as int64 (``pa.array(range(n))`` without the pandas import)."""
    return pa.Array.from_buffers(pa.int64(), n, [None, pa.py_buffer(np.arange(n, dtype=np.int64))])


def _build(values: Sequence, type_: pa.DataType) -> pa.Array:
    if pa.types.is_string(type_):
        return _strings(values)
    if type_ in _INTEGERS:
        return _integers(values, type_)
    if pa.types.is_boolean(type_):
        return _booleans(values)
    if pa.types.is_list(type_) and pa.types.is_string(type_.value_type):
        return _string_lists(values, type_)
    raise _Unsupported


def _validity(values: Sequence) -> tuple[pa.Buffer | None, int]:
    present = np.fromiter((v is not None for v in values), dtype=bool, count=len(values))
    nulls = len(values) - int(present.sum())
    if not nulls:
        return None, 0
    return pa.py_buffer(np.packbits(present, bitorder="little").tobytes()), nulls


def _offsets(lengths) -> np.ndarray:
    out = np.zeros(1, dtype=np.int64)
    return np.concatenate([out, np.cumsum(np.fromiter(lengths, dtype=np.int64))])


def _strings(values: Sequence) -> pa.Array:
    encoded = []
    for v in values:
        if v is None:
            encoded.append(b"")
        elif type(v) is str:  # a subclass or another type: pyarrow decides what it means
            try:
                encoded.append(v.encode())
            except UnicodeEncodeError as exc:  # a lone surrogate: pyarrow's error, not ours
                raise _Unsupported from exc
        else:
            raise _Unsupported
    offsets = _offsets(len(b) for b in encoded)
    if offsets[-1] > np.iinfo(np.int32).max:
        raise _Unsupported  # past string's 2 GiB: pyarrow chunks or refuses
    validity, nulls = _validity(values)
    return pa.Array.from_buffers(
        pa.string(),
        len(values),
        [validity, pa.py_buffer(offsets.astype(np.int32).tobytes()), pa.py_buffer(b"".join(encoded))],
        null_count=nulls,
    )


def _integers(values: Sequence, type_: pa.DataType) -> pa.Array:
    if any(v is not None and type(v) is not int for v in values):
        raise _Unsupported  # bool, float, str...: pyarrow converts or refuses
    dtype = _INTEGERS[type_]
    info = np.iinfo(dtype)
    if any(v is not None and not info.min <= v <= info.max for v in values):
        raise _Unsupported  # pyarrow's overflow error
    data = np.fromiter((0 if v is None else v for v in values), dtype=dtype, count=len(values))
    validity, nulls = _validity(values)
    buffers = [validity, pa.py_buffer(data.tobytes())]
    return pa.Array.from_buffers(type_, len(values), buffers, null_count=nulls)


def _booleans(values: Sequence) -> pa.Array:
    if any(v is not None and type(v) is not bool for v in values):
        raise _Unsupported
    bits = np.fromiter((v is True for v in values), dtype=bool, count=len(values))
    validity, nulls = _validity(values)
    data = pa.py_buffer(np.packbits(bits, bitorder="little").tobytes())
    return pa.Array.from_buffers(pa.bool_(), len(values), [validity, data], null_count=nulls)


def _string_lists(values: Sequence, type_: pa.DataType) -> pa.Array:
    if any(v is not None and type(v) not in (list, tuple) for v in values):
        raise _Unsupported
    items = _strings([s for v in values if v is not None for s in v])
    offsets = _offsets(0 if v is None else len(v) for v in values).astype(np.int32)
    validity, nulls = _validity(values)
    return pa.Array.from_buffers(
        type_, len(values), [validity, pa.py_buffer(offsets.tobytes())], null_count=nulls, children=[items]
    )
