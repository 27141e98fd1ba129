"""The fast paths of ``core.canonical`` against the code they replaced, kept here as the
reference: same bytes, same refusals (type and message), for every value.

``canonical_json`` decides on exact types in one pass, then calls a C encoder built
once; ``loads_canonical`` decides in the same pass that bounds the depth; ``format_time``
formats a UTC time's fields directly. The references below are the previous code,
line for line.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from exchange.core.canonical import canonical_json, format_time, loads_canonical, loads_object
from exchange.core.errors import Malformed

_MAX_SAFE_INT = 2**53 - 1


def reference_plain(value: Any) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str) or item is None or isinstance(item, bool):
            continue
        if isinstance(item, int):
            if not -_MAX_SAFE_INT <= item <= _MAX_SAFE_INT:
                return False
        elif isinstance(item, dict):
            for key, child in item.items():
                if not isinstance(key, str) or not key.isascii():
                    return False
                stack.append(child)
        elif isinstance(item, list):
            stack.extend(item)
        else:
            return False
    return True


def reference_canonical_json(value: Any) -> bytes:
    if reference_plain(value):
        try:
            text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
            return text.encode("utf-8")
        except UnicodeEncodeError:
            pass
    try:
        return bytes(rfc8785.dumps(value))
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
        raise Malformed("value cannot be canonicalised") from exc


def reference_depth(value: Any) -> int:
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return deepest


def reference_loads_object(data: bytes, *, max_depth: int = 16) -> dict[str, Any]:
    try:
        value = json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise Malformed("body is not valid JSON") from exc
    if not isinstance(value, dict):
        raise Malformed("body must be a JSON object")
    if reference_depth(value) > max_depth:
        raise Malformed("JSON nesting is too deep")
    return value


def reference_loads_canonical(
    data: bytes, *, max_depth: int = 16, what: str = "body"
) -> dict[str, Any]:
    value = reference_loads_object(data, max_depth=max_depth)
    if reference_canonical_json(value) != data:
        raise Malformed(f"{what} bytes are not canonical JSON (RFC 8785)")
    return value


def reference_format_time(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("naive datetime")
    utc = moment.astimezone(UTC)
    return utc.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def outcome(fn: Callable[[], object]) -> tuple[str, object]:
    """What a call gives: its value, or the type and message of what it raised."""
    try:
        return "value", fn()
    except Exception as exc:  # the comparison is the point
        return type(exc).__name__, str(exc)


class Colour(enum.Enum):
    RED = "red"


class Level(enum.IntEnum):
    HIGH = 3


class Tag(str):
    pass


class Table(dict[str, Any]):
    pass


keys = st.text(max_size=6) | st.sampled_from(["a", "b", "v", "\U0001f600", "\ufb01", "\ud800"])
unusual_keys = keys | st.integers(-3, 3) | st.none() | st.booleans() | st.builds(Tag, keys)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1)
    | st.text()
    | st.text(alphabet=st.characters(max_codepoint=127), max_size=12)
)
unusual_scalars = (
    st.integers()  # beyond the I-JSON range too
    | st.floats()  # NaN and infinities included
    | st.just("\ud800x")  # a lone surrogate
    | st.builds(Tag, st.text(max_size=4))
    | st.just(Level.HIGH)
    | st.just(Colour.RED)
    | st.just(b"bytes")
)
plain_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=4),
    max_leaves=25,
)
any_values = st.recursive(
    scalars | unusual_scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.lists(children, max_size=3).map(tuple)
        | st.dictionaries(unusual_keys, children, max_size=4)
        | st.dictionaries(keys, children, max_size=3).map(Table)
    ),
    max_leaves=25,
)


@settings(max_examples=600, derandomize=True, deadline=None)
@given(plain_values)
def test_canonical_json_fast_path_is_the_reference(value: object) -> None:
    assert outcome(lambda: canonical_json(value)) == outcome(
        lambda: reference_canonical_json(value)
    )


@settings(max_examples=600, derandomize=True, deadline=None)
@given(any_values)
def test_canonical_json_unusual_values_as_before(value: object) -> None:
    """Subclasses, floats, big integers, non-str keys, tuples, surrogates: the same
    bytes or the same refusal as before."""
    assert outcome(lambda: canonical_json(value)) == outcome(
        lambda: reference_canonical_json(value)
    )


@pytest.mark.parametrize(
    "value",
    [
        {"n": 2**53 - 1, "m": -(2**53) + 1},
        {"n": 2**53},
        {"f": 1.0},
        {"nan": float("nan")},
        {1: "a"},
        {"a": {"b": [1, {"c": "\ud800"}]}},
        {"é": 1},
        {"k": Tag("x"), Tag("t"): Level.HIGH},
        Table(b=1, a=2),
        ("a", 1),
        [Colour.RED],
        "top",
        7,
        None,
        True,
    ],
)
def test_canonical_json_edge_cases_as_before(value: object) -> None:
    assert outcome(lambda: canonical_json(value)) == outcome(
        lambda: reference_canonical_json(value)
    )


def spellings(value: Any) -> st.SearchStrategy[bytes]:
    canonical = outcome(lambda: reference_canonical_json(value))
    loose = json.dumps(value, sort_keys=False, ensure_ascii=True)
    variants = [loose.encode(), (loose + " ").encode(), loose.replace(":", ": ").encode()]
    if canonical[0] == "value" and isinstance(canonical[1], bytes):
        variants.append(canonical[1])
    return st.sampled_from(variants)


json_values = st.recursive(
    scalars | st.floats(allow_nan=False, allow_infinity=False) | st.integers(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=4),
    max_leaves=25,
)
documents = st.dictionaries(keys, json_values, max_size=4).flatmap(spellings)
hostile = st.sampled_from(
    [
        b"{}",
        b"[]",
        b'"s"',
        b"{",
        b'{"a":1,"a":2}',
        b'{"a":1.0}',
        b'{"a":1.5}',
        b'{"a":1e400}',
        b'{"a":NaN}',
        b'{"a":"\\ud800"}',
        b'{"a":"\\u00e9"}',
        '{"a":"é"}'.encode(),
        b'{"a":9007199254740992}',
        b'{"\\u00e9":1}',
        b'{"a":[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]}',
        b'{"a":[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]}',
        b'{"a":{"b":{}}}',
        b'{"a":{"b":[]}}',
        b"\xff",
        b"[" * 100_000,
    ]
)


@settings(max_examples=600, derandomize=True, deadline=None)
@given(documents | hostile, st.sampled_from([1, 2, 3, 4, 8, 16]))
def test_loads_canonical_is_the_reference(data: bytes, max_depth: int) -> None:
    assert outcome(lambda: loads_canonical(data, max_depth=max_depth, what="doc")) == outcome(
        lambda: reference_loads_canonical(data, max_depth=max_depth, what="doc")
    )
    assert outcome(lambda: loads_object(data, max_depth=max_depth)) == outcome(
        lambda: reference_loads_object(data, max_depth=max_depth)
    )


@settings(max_examples=600, derandomize=True, deadline=None)
@given(
    st.datetimes(
        min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)
    ),
    st.sampled_from([UTC, timezone(timedelta(0)), timezone(timedelta(hours=-3))]),
)
def test_format_time_is_the_reference(moment: datetime, zone: timezone) -> None:
    local = moment.astimezone(zone)
    assert format_time(local) == reference_format_time(local)
    assert format_time(moment) == reference_format_time(moment)


class Moment(datetime):
    pass


def test_format_time_edge_cases_as_before() -> None:
    odd = [
        datetime(1, 1, 1, tzinfo=UTC),
        datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(999, 3, 4, 5, 6, 7, 8, tzinfo=UTC),
        datetime(2026, 1, 1, fold=1, tzinfo=UTC),
        Moment(2026, 5, 6, 7, 8, 9, 10, tzinfo=UTC),
        datetime(2026, 1, 1, tzinfo=timezone(timedelta(hours=14))),
        datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=1))),  # before year 1 in UTC
        datetime(2026, 1, 1),  # naive
    ]
    for moment in odd:
        assert outcome(lambda m=moment: format_time(m)) == outcome(  # type: ignore[misc]
            lambda m=moment: reference_format_time(m)  # type: ignore[misc]
        )
