import pytest

from chitty_pipelines.chittyos.identity import checksum, is_valid, validate

REAL_IDS = [
    "03-1-USA-3846-T-2602-0-57",
    "03-1-USA-9002-T-2602-0-81",
    "03-1-USA-9750-T-2602-0-75",
    "03-1-USA-0970-P-2603-0-54",
]


@pytest.mark.parametrize("chitty_id", REAL_IDS)
def test_the_four_published_ids_validate(chitty_id):
    assert validate(chitty_id).valid


def test_worked_example_checksum():
    assert checksum("03-1-USA-3846-T-2602-0") == "57"


def test_placeholder_from_the_ui_fails_with_the_right_expected_checksum():
    v = validate("03-1-USA-0001-P-2509-3-97")
    assert not v.valid and "42" in v.reason


@pytest.mark.parametrize(
    "bad",
    [
        "local_fallback_1700000000",
        "03-0-USA-3846-T-2602-0-57",
        "03-1-usa-3846-T-2602-0-57",
        "03-1-USA-3846-X-2602-0-57",
        "03-1-USA-3846-T-2602-0-58",
        "",
        None,
    ],
)
def test_malformed_or_wrong_checksum_fails(bad):
    assert not is_valid(bad)
