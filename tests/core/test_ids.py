"""Time-ordered identifiers (RFC 9562 UUIDv7 layout)."""

from __future__ import annotations

import uuid

import pytest

from exchange.core import ids
from exchange.core.envelope import MSG_ID_RE


def test_uuid7_layout_and_time() -> None:
    value = ids.uuid7(0x0123_4567_89AB)
    assert value.version == 7 and value.variant == uuid.RFC_4122
    assert value.int >> 80 == 0x0123_4567_89AB


def test_ids_sort_by_creation_time() -> None:
    earlier = [ids.uuid7(1_700_000_000_000 + i).hex for i in range(50)]
    assert sorted(earlier) == earlier


def test_ids_are_unique_and_well_formed() -> None:
    made = {ids.message_id() for _ in range(5000)}
    assert len(made) == 5000
    assert all(MSG_ID_RE.fullmatch(m) for m in made)
    request = ids.request_id()
    assert str(uuid.UUID(request)) == request


def test_random_bits_differ_within_one_millisecond() -> None:
    same_ms = {ids.uuid7(1_700_000_000_000).int & ((1 << 80) - 1) for _ in range(100)}
    assert len(same_ms) == 100


@pytest.mark.parametrize("ms", [-1, 1 << 48])
def test_time_outside_48_bits_is_refused(ms: int) -> None:
    with pytest.raises(ValueError, match="48-bit"):
        ids.uuid7(ms)
