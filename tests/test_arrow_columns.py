"""warehouse/arrow_columns.py must build what ``pa.array`` builds, or fail as it fails, for any column,
and never import pandas for the types the file platforms write."""

from __future__ import annotations

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chitty_pipelines.warehouse.arrow_columns import column_to_arrow
from tests.import_probe import imported_by

TYPES = {
    "string": (pa.string(), st.text()),
    "int64": (pa.int64(), st.integers(min_value=-(2**63), max_value=2**63 - 1)),
    "int32": (pa.int32(), st.integers(min_value=-(2**31), max_value=2**31 - 1)),
    "bool": (pa.bool_(), st.booleans()),
    "list<string>": (pa.list_(pa.string()), st.lists(st.text(), max_size=4)),
}
# What a parser should never hand over but might: each must behave exactly as pa.array behaves.
ODD = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True),
    st.booleans(),
    st.text(alphabet=st.characters(blacklist_categories=())),  # lone surrogates included
    st.binary(max_size=4),
    st.lists(st.integers(), max_size=2),
)


def _same_as_pyarrow(values: list, type_: pa.DataType) -> None:
    try:
        expected = pa.array(values, type=type_)
    except Exception as exc:  # whatever pyarrow raises, we must raise the same
        with pytest.raises(type(exc)):
            column_to_arrow(values, type_)
        return
    got = column_to_arrow(values, type_)
    got.validate(full=True)
    assert got.type == expected.type and got.null_count == expected.null_count
    assert got.equals(expected), (values, got, expected)


@pytest.mark.parametrize("name", sorted(TYPES))
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_columns_equal_pa_array(name: str, data: st.DataObject) -> None:
    type_, values = TYPES[name]
    _same_as_pyarrow(data.draw(st.lists(st.none() | values, max_size=30)), type_)


@pytest.mark.parametrize("name", sorted(TYPES))
@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_odd_values_behave_as_in_pa_array(name: str, data: st.DataObject) -> None:
    type_, values = TYPES[name]
    _same_as_pyarrow(data.draw(st.lists(st.none() | values | ODD, min_size=1, max_size=8)), type_)


def test_other_types_are_pyarrows_own() -> None:
    values = [1.5, None, 2.0]
    assert column_to_arrow(values, pa.float64()).equals(pa.array(values, type=pa.float64()))


def test_the_file_platform_types_never_import_pandas() -> None:
    code = (
        "import pyarrow as pa\n"
        "from chitty_pipelines.warehouse.arrow_columns import column_to_arrow\n"
        "column_to_arrow(['2026-12-06T10:00:00Z', None], pa.string()).cast(pa.timestamp('us', tz='UTC'))\n"
        "column_to_arrow([1, None], pa.int64()); column_to_arrow([2], pa.int32())\n"
        "column_to_arrow([True, None], pa.bool_()); column_to_arrow([['x'], None], pa.list_(pa.string()))\n"
    )
    assert imported_by(code, ("pandas",)) == []
