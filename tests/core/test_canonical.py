"""The fast canonical-JSON path gives exactly the RFC 8785 bytes of the reference."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from exchange.core.canonical import (
    b64_json,
    b64e,
    canonical_json,
    canonical_members,
    format_time,
    parse_time,
)
from exchange.core.errors import Malformed

scalars = (
    st.none() | st.booleans() | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1) | st.text()
)
values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=300, derandomize=True)
@given(st.dictionaries(st.text(alphabet=st.characters(max_codepoint=127), max_size=8), values))
def test_spliced_members_are_the_same_bytes(obj: dict[str, object]) -> None:
    spliced = canonical_members({k: canonical_json(v) for k, v in obj.items()})
    assert spliced == canonical_json(obj)


@given(st.binary(max_size=300))
def test_b64_json_is_the_canonical_string(data: bytes) -> None:
    assert b64_json(data) == canonical_json(b64e(data))


def test_spliced_members_refuse_non_ascii_keys() -> None:
    with pytest.raises(ValueError, match="ASCII"):
        canonical_members({"é": b"1"})


@settings(max_examples=400, derandomize=True)
@given(values)
def test_same_bytes_as_rfc8785(value: object) -> None:
    assert canonical_json(value) == bytes(rfc8785.dumps(value))


@pytest.mark.parametrize(
    "value",
    [
        {"\U0001f600": 1, "\ufb01": 2},  # keys ordered by UTF-16 units, not code points
        {"a": 1.5},
        ['\x00\x1f\x7f\u2028"\\'],
    ],
)
def test_edge_cases_match(value: object) -> None:
    assert canonical_json(value) == bytes(rfc8785.dumps(value))


def test_refuses_what_cannot_be_canonical() -> None:
    for bad in ({"a": float("nan")}, {"s": "\ud800"}, {"x": object()}, {"n": 2**60}):
        with pytest.raises(Malformed):
            canonical_json(bad)


@settings(max_examples=200, derandomize=True)
@given(
    st.datetimes(
        min_value=datetime(1000, 1, 2), max_value=datetime(9998, 12, 30), timezones=st.just(UTC)
    ),
    st.integers(min_value=-720, max_value=720),
)
def test_time_spelling(moment: datetime, offset_minutes: int) -> None:
    local = moment.astimezone(timezone(timedelta(minutes=offset_minutes)))
    text = format_time(local)
    assert text == moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert parse_time(text) == moment
