"""List cursors: a position goes out and comes back the same, in its own list only;
anything else, whatever its bytes, is refused as ``malformed`` and nothing else."""

from __future__ import annotations

import base64
import contextlib
import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exchange.core import cursor
from exchange.core.canonical import canonical_json, format_time
from exchange.core.errors import Malformed
from exchange.core.ids import request_id, uuid7

AT = "2026-03-01T08:30:00.000000Z"
DUE = "2026-03-02T08:30:00.000000Z"
ID = "01900000-0000-7000-8000-000000000000"


def _b64(document: object) -> str:
    raw = document if isinstance(document, bytes) else canonical_json(document)
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def test_a_position_comes_back_as_it_went() -> None:
    for list_name, after in (
        ("requests", (AT, ID)),
        ("inbox", (DUE, AT, ID)),
        ("inbox", (None, AT, ID)),
    ):
        token = cursor.encode(list_name, after)
        assert token.isascii() and "=" not in token and "/" not in token and "+" not in token
        assert cursor.decode(token, list_name) == after


def test_a_cursor_belongs_to_its_list() -> None:
    with pytest.raises(Malformed):
        cursor.decode(cursor.encode("requests", (AT, ID)), "inbox")
    with pytest.raises(Malformed):
        cursor.decode(cursor.encode("inbox", (None, AT, ID)), "requests")
    # not signed: a well-formed position is one (the query decides what is seen)
    forged = _b64({"after": [AT, ID], "list": "requests", "v": 1})
    assert cursor.decode(forged, "requests") == (AT, ID)
    # another list's name on the right shape: refused
    with pytest.raises(Malformed):
        cursor.decode(_b64({"after": [DUE, AT, ID], "list": "requests", "v": 1}), "inbox")


def test_the_positions_of_deadlines_and_alerts_come_back_as_they_went() -> None:
    for list_name, after in (
        ("deadlines", (DUE, None, ID)),  # an open request: by its deadline
        ("deadlines", (DUE, AT, ID)),  # a settled one: by the time it had left
        ("alerts", (1,)),
        ("alerts", (cursor.MAX_SERIAL,)),
        ("witness_alerts", (4096,)),
    ):
        token = cursor.encode(list_name, after)
        assert cursor.decode(token, list_name) == after


@pytest.mark.parametrize(
    ("made_for", "used_for", "after"),
    [
        ("alerts", "witness_alerts", (7,)),
        ("witness_alerts", "alerts", (7,)),
        ("inbox", "deadlines", (DUE, AT, ID)),  # the same shape, another order
        ("deadlines", "inbox", (DUE, AT, ID)),
        ("deadlines", "requests", (DUE, None, ID)),
    ],
)
def test_a_cursor_of_deadlines_or_alerts_belongs_to_its_list(
    made_for: str, used_for: str, after: tuple[str | int | None, ...]
) -> None:
    with pytest.raises(Malformed):
        cursor.decode(cursor.encode(made_for, after), used_for)


@pytest.mark.parametrize(
    ("list_name", "token"),
    [
        ("alerts", _b64({"after": [0], "list": "alerts", "v": 1})),  # ids start at 1
        ("alerts", _b64({"after": [-3], "list": "alerts", "v": 1})),
        ("alerts", _b64({"after": [True], "list": "alerts", "v": 1})),
        ("alerts", _b64({"after": [None], "list": "alerts", "v": 1})),
        ("alerts", _b64({"after": ["7"], "list": "alerts", "v": 1})),
        ("alerts", _b64({"after": [7, 8], "list": "alerts", "v": 1})),
        ("alerts", _b64({"after": [], "list": "alerts", "v": 1})),
        ("alerts", _b64(b'{"after":[7.0],"list":"alerts","v":1}')),
        ("alerts", _b64(b'{"after":[7e0],"list":"alerts","v":1}')),
        ("alerts", _b64(b'{"after":[9007199254740992],"list":"alerts","v":1}')),  # 2**53
        ("alerts", _b64(b'{"after":[07],"list":"alerts","v":1}')),
        ("witness_alerts", _b64({"after": [AT], "list": "witness_alerts", "v": 1})),
        ("deadlines", _b64({"after": [None, AT, ID], "list": "deadlines", "v": 1})),
        ("deadlines", _b64({"after": [DUE, AT], "list": "deadlines", "v": 1})),
        ("deadlines", _b64({"after": [DUE, 7, ID], "list": "deadlines", "v": 1})),
        ("deadlines", _b64({"after": [DUE, "answered", ID], "list": "deadlines", "v": 1})),
    ],
)
def test_anything_else_in_deadlines_or_alerts_is_malformed(list_name: str, token: str) -> None:
    with pytest.raises(Malformed) as caught:
        cursor.decode(token, list_name)
    assert caught.value.code == "malformed"


@pytest.mark.parametrize(
    "token",
    [
        "",
        "not a cursor",
        "e30",  # {}
        _b64({"after": [AT, ID], "list": "requests", "v": 2}),  # another version
        _b64({"after": [AT, ID], "list": "requests", "v": True}),
        _b64({"after": [AT, ID], "list": "requests"}),
        _b64({"after": [AT, ID], "list": "requests", "v": 1, "x": 0}),
        _b64({"after": [AT], "list": "requests", "v": 1}),
        _b64({"after": [AT, ID, ID], "list": "requests", "v": 1}),
        _b64({"after": [None, ID], "list": "requests", "v": 1}),  # only a deadline may be null
        _b64({"after": ["2026-13-01T08:30:00.000000Z", ID], "list": "requests", "v": 1}),
        _b64({"after": ["2026-03-01 08:30", ID], "list": "requests", "v": 1}),
        _b64({"after": [AT, "'; DROP TABLE requests"], "list": "requests", "v": 1}),
        _b64({"after": [AT, 7], "list": "requests", "v": 1}),
        _b64({"after": {"0": AT}, "list": "requests", "v": 1}),
        _b64({"after": [AT, ID], "list": "nope", "v": 1}),
        _b64([AT, ID]),
        # the same position spelt otherwise: key order, spaces, padding
        _b64(b'{"v":1,"list":"requests","after":["' + AT.encode() + b'","' + ID.encode() + b'"]}'),
        _b64(json.dumps({"after": [AT, ID], "list": "requests", "v": 1}).encode()),
        cursor.encode("requests", (AT, ID)) + "==",
        "A" * (cursor.MAX_CHARS + 1),
    ],
)
def test_anything_else_is_malformed(token: str) -> None:
    with pytest.raises(Malformed) as caught:
        cursor.decode(token, "requests")
    assert caught.value.code == "malformed"


def test_a_changed_character_is_refused_or_another_position_of_the_same_list() -> None:
    token = cursor.encode("inbox", (DUE, AT, request_id()))
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    for index in range(len(token)):
        for replacement in alphabet[::7]:
            if replacement == token[index]:
                continue
            edited = token[:index] + replacement + token[index + 1 :]
            try:
                position = cursor.decode(edited, "inbox")
            except Malformed:
                continue
            assert len(position) == 3  # a well-formed position of the same list


def test_encode_refuses_what_is_not_a_position() -> None:
    with pytest.raises(ValueError):
        cursor.encode("requests", (None, ID))
    with pytest.raises(ValueError):
        cursor.encode("elsewhere", (AT, ID))
    with pytest.raises(ValueError):
        cursor.encode("alerts", (0,))
    with pytest.raises(ValueError):
        cursor.encode("deadlines", (None, None, ID))


@settings(max_examples=500, derandomize=True)
@given(st.binary(max_size=400))
def test_random_bytes_never_crash_it(raw: bytes) -> None:
    for token in (_b64(raw), raw.decode("latin-1"), base64.b64encode(raw).decode()):
        for list_name in ("inbox", "alerts"):
            try:
                position = cursor.decode(token, list_name)
            except Malformed:
                continue
            assert cursor.encode(list_name, position) == token


@settings(max_examples=300, derandomize=True)
@given(st.text(max_size=500))
def test_random_text_never_crashes_it(token: str) -> None:
    for list_name in cursor.SHAPES:
        with contextlib.suppress(Malformed):
            cursor.decode(token, list_name)


times = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
).map(format_time)


@settings(max_examples=200, derandomize=True)
@given(st.one_of(st.none(), times), times, st.integers(0, 2**48 - 1))
def test_every_inbox_position_round_trips(deadline: str | None, at: str, ms: int) -> None:
    after = (deadline, at, str(uuid7(ms)))
    assert cursor.decode(cursor.encode("inbox", after), "inbox") == after
    later = (format_time(datetime.fromisoformat(at) + timedelta(microseconds=1)), after[2])
    assert cursor.decode(cursor.encode("requests", later), "requests") == later


@settings(max_examples=200, derandomize=True)
@given(st.integers(1, cursor.MAX_SERIAL), st.sampled_from(["alerts", "witness_alerts"]))
def test_every_alert_position_round_trips(alert_id: int, list_name: str) -> None:
    token = cursor.encode(list_name, (alert_id,))
    assert cursor.decode(token, list_name) == (alert_id,)
