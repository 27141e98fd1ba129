"""Leases in the database (store/leases.py): two connections to one SQLite file stand
for two processes of one authority (each process has one connection)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from exchange.core.lease import LeaseLost
from exchange.store import leases
from exchange.store.db import Database, transaction

T0 = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)
TTL = timedelta(seconds=6)
S = timedelta(seconds=1)


@pytest.fixture
def two(tmp_path: Path) -> Iterator[tuple[Database, Database]]:
    a, b = Database(tmp_path / "exchange.db"), Database(tmp_path / "exchange.db")
    yield a, b
    a.close()
    b.close()


def test_one_holder_at_a_time_and_a_new_fence_at_each_takeover(
    two: tuple[Database, Database],
) -> None:
    a, b = two
    first = a.run_sync(lambda c: leases.acquire(c, "checkpoints", "A", T0, TTL))
    assert first is not None and first.fence == 1 and first.holder == "A"
    assert b.run_sync(lambda c: leases.acquire(c, "checkpoints", "B", T0 + 5 * S, TTL)) is None
    # A renews: the row lives on, same fence
    assert a.run_sync(lambda c: leases.renew(c, "A", [("checkpoints", 1)], T0 + 2 * S, TTL)) == {
        "checkpoints"
    }
    assert b.run_sync(lambda c: leases.acquire(c, "checkpoints", "B", T0 + 7 * S, TTL)) is None
    # A dies: 6 s after its last renewal B takes over, under a new fence
    taken = b.run_sync(lambda c: leases.acquire(c, "checkpoints", "B", T0 + 8 * S, TTL))
    assert taken is not None and taken.fence == 2 and taken.holder == "B"


def test_an_old_holder_can_neither_renew_nor_write_after_a_takeover(
    two: tuple[Database, Database],
) -> None:
    a, b = two
    a.run_sync(lambda c: leases.acquire(c, "deadlines", "A", T0, TTL))
    b.run_sync(lambda c: leases.acquire(c, "deadlines", "B", T0 + 6 * S, TTL))
    # A wakes up late (a long pause): its renewal is refused...
    assert a.run_sync(lambda c: leases.renew(c, "A", [("deadlines", 1)], T0 + 7 * S, TTL)) == set()
    # ...and a write fenced by its old number rolls back

    with pytest.raises(LeaseLost):
        a.run_sync(
            lambda c: _in_transaction(c, lambda: leases.require(c, "deadlines", "A", 1, T0 + 7 * S))
        )
    b.run_sync(
        lambda c: _in_transaction(c, lambda: leases.require(c, "deadlines", "B", 2, T0 + 7 * S))
    )


def test_an_expired_lease_fences_nothing_even_for_its_holder(
    two: tuple[Database, Database],
) -> None:
    a, _ = two
    a.run_sync(lambda c: leases.acquire(c, "witness", "A", T0, TTL))
    with pytest.raises(LeaseLost):
        a.run_sync(
            lambda c: _in_transaction(c, lambda: leases.require(c, "witness", "A", 1, T0 + 6 * S))
        )


def test_a_released_lease_is_free_at_once_and_its_fence_still_grows(
    two: tuple[Database, Database],
) -> None:
    a, b = two
    a.run_sync(lambda c: leases.acquire(c, "delivery:MA-CNA", "A", T0, TTL))
    assert a.run_sync(lambda c: leases.release(c, "delivery:MA-CNA", "A", 1, T0 + S))
    assert not a.run_sync(lambda c: leases.release(c, "delivery:MA-CNA", "A", 1, T0 + S))
    taken = b.run_sync(lambda c: leases.acquire(c, "delivery:MA-CNA", "B", T0 + S, TTL))
    assert taken is not None and taken.fence == 2
    rows = a.run_sync(leases.all_rows)
    assert [(r.duty, r.holder, r.fence) for r in rows] == [("delivery:MA-CNA", "B", 2)]


def test_a_fenced_write_outside_a_transaction_is_refused(two: tuple[Database, Database]) -> None:
    a, _ = two
    with pytest.raises(RuntimeError, match="inside its own transaction"):
        a.run_sync(lambda c: leases.require(c, "witness", "A", 1, T0))


def _in_transaction(conn: sqlite3.Connection, fn: Callable[[], None]) -> None:
    with transaction(conn):
        fn()
