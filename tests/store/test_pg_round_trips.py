"""PostgreSQL round trips while the write lock is held (store/pg.py): a read-only job
never waits for the lock, and a group commit sends BEGIN, the lock, SAVEPOINT and
RELEASE with its statements, not on their own (a real cluster: tests/postgres.py)."""

from __future__ import annotations

import asyncio
import sqlite3
import threading

import psycopg

from exchange.store.pg import WRITE_LOCK, PgDatabase
from exchange.store.read_only import ReadOnly

from ..federation import wait_until
from ..postgres import cluster


def _table(db: PgDatabase) -> None:
    db.run_sync(lambda c: c.execute("CREATE TABLE t (v INTEGER PRIMARY KEY)"))


async def _grouped(db: PgDatabase, *jobs: object) -> list[asyncio.Future[object]]:
    """``jobs`` queued behind a job that holds the database thread, so that they run
    as one group once it lets go."""
    gate, entered = threading.Event(), threading.Event()

    def hold(_: object) -> None:
        entered.set()
        gate.wait(10)

    loop = asyncio.get_running_loop()
    holding = loop.create_task(db.run(hold))
    await wait_until(entered.is_set, what="the gate job on the database thread")
    futures = [loop.create_task(db.run(job)) for job in jobs]  # type: ignore[arg-type]
    await wait_until(lambda: len(db._pending) == len(jobs), what="all queued behind it")
    gate.set()
    await holding
    return futures  # type: ignore[return-value]


async def test_a_read_only_job_answers_while_another_process_holds_the_write_lock() -> None:
    url = cluster().database()
    db = PgDatabase(url)
    _table(db)
    other = psycopg.connect(url)  # another process, inside its write transaction
    other.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
    try:
        write, read = await _grouped(
            db,
            lambda c: c.execute("INSERT INTO t (v) VALUES (1)"),
            ReadOnly(lambda c: c.execute("SELECT COUNT(*) FROM t").fetchone()[0]),
        )
        # before: the read ran in the group's transaction, behind the lock
        assert await asyncio.wait_for(read, 10) == 0
        assert not write.done()  # the write waits for the lock, as it must
        other.commit()
        await asyncio.wait_for(write, 10)
        assert db.run_sync(lambda c: c.execute("SELECT COUNT(*) FROM t").fetchone()[0]) == 1
    finally:
        other.close()
        db.close()


async def test_a_group_of_one_statement_jobs_costs_one_round_trip_each_and_one() -> None:
    db = PgDatabase(cluster().database())
    _table(db)
    try:
        before = db.counters()["round_trips"]

        def insert(v: int) -> object:
            return lambda c: c.execute("INSERT INTO t (v) VALUES (?)", (v,))

        futures = await _grouped(db, insert(1), insert(2), insert(3))
        await asyncio.gather(*futures)
        # BEGIN, the lock and each SAVEPOINT/RELEASE ride with a statement; COMMIT with
        # the last RELEASE: 3 + 1 (before: 1 + 3 x 3 + 1 = 11)
        assert db.counters()["round_trips"] - before == 4
        rows = db.run_sync(lambda c: [r[0] for r in c.execute("SELECT v FROM t ORDER BY v")])
        assert rows == [1, 2, 3]
        failed = await _grouped(db, insert(4), insert(1), insert(5))  # 1 is taken
        outcomes = await asyncio.gather(*failed, return_exceptions=True)
        assert isinstance(outcomes[1], sqlite3.IntegrityError)  # it alone fails
        rows = db.run_sync(lambda c: [r[0] for r in c.execute("SELECT v FROM t ORDER BY v")])
        assert rows == [1, 2, 3, 4, 5]
    finally:
        db.close()
