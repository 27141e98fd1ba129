"""A coroutine waiting for the database to be written is woken by the write itself
(``Database.watch``), once, and a waiter that gave up is forgotten."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from exchange.store.db import Database, transaction
from exchange.store.write_watch import outside_stamp

from ..postgres import on_postgresql
from ..storage import database as open_test_database


@pytest.fixture
def db(tmp_path: Path) -> Database:
    database = open_test_database(tmp_path / "t.db")
    database.run_sync(lambda c: c.execute("CREATE TABLE t (v INTEGER)"))
    yield database  # type: ignore[misc]
    database.close()


def _insert(c: sqlite3.Connection) -> None:
    with transaction(c):
        c.execute("INSERT INTO t (v) VALUES (1)")


async def test_a_waiter_is_woken_by_the_write_that_passes_its_mark(db: Database) -> None:
    mark = db.writes
    waiter = db.watch.beyond(mark)
    await db.run(lambda c: c.execute("SELECT COUNT(*) FROM t").fetchone())  # a read
    assert not waiter.done()
    await db.run(_insert)
    assert await asyncio.wait_for(waiter, 5) == db.writes
    assert db.writes > mark
    assert db.watch.beyond(mark).done()  # already passed: at once


async def test_a_waiter_that_gave_up_is_forgotten(db: Database) -> None:
    mark = db.writes
    for _ in range(100):
        db.watch.beyond(mark).cancel()  # e.g. a timeout
    live = db.watch.beyond(mark)
    assert len(db.watch._waiting) == 1  # not 101: an idle node's waits do not pile up
    await db.run(_insert)
    await asyncio.wait_for(live, 5)


@pytest.mark.skipif(on_postgresql(), reason="PostgreSQL has no file to stat")
def test_another_connections_write_changes_the_stamp(db: Database, tmp_path: Path) -> None:
    before = outside_stamp(db.path)
    db.run_sync(lambda c: c.execute("SELECT COUNT(*) FROM t").fetchone())
    assert outside_stamp(db.path) == before  # reading changes nothing
    other = sqlite3.connect(tmp_path / "t.db", isolation_level=None)
    try:
        _insert(other)
    finally:
        other.close()
    assert outside_stamp(db.path) != before
    assert outside_stamp(None) is None  # cannot tell: the caller assumes a change
