"""The database thread's group commit: many jobs, one transaction, each all-or-nothing."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Coroutine
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from exchange.core.errors import StorageUnavailable
from exchange.store.db import WRITE_CLAIM, Database, transaction
from exchange.store.idempotency import Claim
from exchange.store.read_only import ReadOnly

from ..storage import database as open_test_database
from ..storage import sqlite_only


@pytest.fixture
def db(tmp_path: Path) -> Database:
    database = open_test_database(tmp_path / "t.db")
    database.run_sync(lambda c: c.execute("CREATE TABLE t (v INTEGER UNIQUE)"))
    yield database  # type: ignore[misc]
    database.close()


async def test_queued_jobs_share_a_commit_and_fail_alone(db: Database) -> None:
    gate = threading.Event()
    blocker = asyncio.ensure_future(db.run(lambda c: gate.wait(5)))  # holds the thread

    def insert(v: int) -> int:
        def job(c: sqlite3.Connection) -> int:
            with transaction(c):
                c.execute("INSERT INTO t (v) VALUES (?)", (v,))
                if v == 3:
                    c.execute("INSERT INTO t (v) VALUES (1)")  # violates UNIQUE: job 3 fails
            return v

        return job  # type: ignore[return-value]

    jobs = [asyncio.ensure_future(db.run(insert(v))) for v in range(1, 6)]
    await asyncio.sleep(0)  # let every job reach the queue
    gate.set()
    await blocker
    results = await asyncio.gather(*jobs, return_exceptions=True)
    assert results[:2] == [1, 2] and results[3:] == [4, 5]
    assert isinstance(results[2], sqlite3.IntegrityError)
    rows = await db.run(lambda c: [r[0] for r in c.execute("SELECT v FROM t ORDER BY v")])
    assert rows == [1, 2, 4, 5]  # job 3's first insert was rolled back with it
    assert not await db.run(lambda c: c.in_transaction)


def test_a_job_alone_runs_its_own_transaction(db: Database) -> None:
    def job(c: sqlite3.Connection) -> None:
        with transaction(c):
            c.execute("INSERT INTO t (v) VALUES (7)")
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        db.run_sync(job)
    assert db.run_sync(lambda c: c.execute("SELECT COUNT(*) FROM t").fetchone()[0]) == 0


async def test_a_cancelled_caller_does_not_stall_the_others(db: Database) -> None:
    """A caller cancelled while its job waits (a peer hung up mid-transaction)
    skips that job; the jobs queued with it still commit and answer, and the
    database thread keeps serving."""
    gate, started = threading.Event(), threading.Event()

    def block(c: sqlite3.Connection) -> bool:
        started.set()
        return gate.wait(5)

    blocker = asyncio.ensure_future(db.run(block))
    assert await asyncio.to_thread(started.wait, 5)  # the thread is busy: the rest will queue
    ran: list[int] = []

    def insert(v: int) -> object:
        def job(c: sqlite3.Connection) -> int:
            ran.append(v)
            c.execute("INSERT INTO t (v) VALUES (?)", (v,))
            return v

        return job

    jobs = [asyncio.ensure_future(db.run(insert(v))) for v in range(1, 5)]  # type: ignore[arg-type]
    await asyncio.sleep(0)
    jobs[1].cancel()
    await asyncio.sleep(0)
    gate.set()
    await blocker
    results = await asyncio.gather(*jobs, return_exceptions=True)
    assert results[0] == 1 and results[2:] == [3, 4]
    assert isinstance(results[1], asyncio.CancelledError)
    assert 2 not in ran  # a job whose caller gave up before it started never runs
    assert await asyncio.wait_for(db.run(lambda c: 42), timeout=5) == 42
    rows = await db.run(lambda c: [r[0] for r in c.execute("SELECT v FROM t ORDER BY v")])
    assert rows == [1, 3, 4]


async def test_jobs_after_a_group_wide_rollback_still_run(tmp_path: Path) -> None:
    """A full disk makes SQLite roll the whole group back: the jobs already run fail
    (retryable), the ones queued after the culprit run in a transaction of their own."""
    database = Database(tmp_path / "full.db")
    try:
        database.run_sync(lambda c: c.execute("CREATE TABLE t (v BLOB)"))
        database.run_sync(lambda c: c.execute("INSERT INTO t VALUES (zeroblob(1000))"))
        pages = database.run_sync(lambda c: c.execute("PRAGMA page_count").fetchone()[0])
        database.run_sync(lambda c: c.execute(f"PRAGMA max_page_count = {pages}"))
        gate = threading.Event()
        blocker = asyncio.ensure_future(database.run(lambda c: gate.wait(5)))

        def grow(c: sqlite3.Connection) -> None:
            with transaction(c):
                c.execute("INSERT INTO t VALUES (zeroblob(100000))")  # needs new pages

        def free(c: sqlite3.Connection) -> int:
            return int(c.execute("PRAGMA max_page_count = 1073741823").fetchone()[0])

        def small(c: sqlite3.Connection) -> None:
            with transaction(c):
                c.execute("INSERT INTO t VALUES (1)")

        jobs = [asyncio.ensure_future(database.run(fn)) for fn in (small, grow, free, small)]
        await asyncio.sleep(0)
        gate.set()
        await asyncio.gather(blocker, return_exceptions=True)  # it may share the group
        first, grown, freed, last = await asyncio.gather(*jobs, return_exceptions=True)
        assert isinstance(grown, StorageUnavailable)
        # SQLite may roll back just the statement or the whole transaction; either
        # way the jobs after it were not lost with it
        assert freed == 1073741823 and last is None
        assert first is None or isinstance(first, StorageUnavailable)
    finally:
        database.close()


async def test_batched_items_queued_together_run_in_one_call(db: Database) -> None:
    calls: list[list[int]] = []

    def insert_all(c: sqlite3.Connection, items: list[int]) -> list[int | BaseException]:
        calls.append(list(items))
        with transaction(c):
            c.executemany("INSERT INTO t (v) VALUES (?)", [(v,) for v in items])
        return [v * 10 for v in items]

    *batched, other = await together(
        db,
        *(db.run_batched(insert_all, v) for v in (1, 2, 3)),
        db.run(lambda c: c.execute("SELECT COUNT(*) FROM t").fetchone()),
    )
    assert batched == [10, 20, 30]
    assert calls == [[1, 2, 3]]
    assert other[0] == 3  # ordinary jobs in the group still run
    alone = await db.run_batched(insert_all, 4)  # no company: a call of its own
    assert alone == 40 and calls[-1] == [4]


async def test_a_failing_batch_reruns_each_item_alone(db: Database) -> None:
    calls: list[list[int]] = []

    def insert_all(c: sqlite3.Connection, items: list[int]) -> list[int | BaseException]:
        calls.append(list(items))
        with transaction(c):
            c.executemany("INSERT INTO t (v) VALUES (?)", [(v,) for v in items])
        return list(items)

    await db.run(lambda c: c.execute("INSERT INTO t (v) VALUES (2)"))
    one, two, three = await together(db, *(db.run_batched(insert_all, v) for v in (1, 2, 3)))
    assert (one, three) == (1, 3)
    assert isinstance(two, sqlite3.IntegrityError)  # 2 is taken: it alone fails
    assert calls == [[1, 2, 3], [1], [2], [3]]
    rows = await db.run(lambda c: [r[0] for r in c.execute("SELECT v FROM t ORDER BY v")])
    assert rows == [1, 2, 3]


async def test_a_batch_can_refuse_one_item_without_raising(db: Database) -> None:
    def check_all(c: sqlite3.Connection, items: list[int]) -> list[int | BaseException]:
        return [ValueError(f"odd {v}") if v % 2 else v for v in items]

    odd, even = await together(db, *(db.run_batched(check_all, v) for v in (1, 2)))
    assert isinstance(odd, ValueError) and even == 2
    with pytest.raises(ValueError, match="odd 3"):
        await db.run_batched(check_all, 3)


async def together(db: Database, *calls: Coroutine[Any, Any, Any]) -> list[Any]:
    """Run ``calls`` queued behind a job that holds the database thread, so they form
    one group; their results (or exceptions), in order."""
    gate, started = threading.Event(), threading.Event()

    def hold(c: sqlite3.Connection) -> bool:
        started.set()
        return gate.wait(5)

    blocker = asyncio.ensure_future(db.run(hold))
    assert await asyncio.to_thread(started.wait, 5)
    jobs = [asyncio.ensure_future(call) for call in calls]
    await asyncio.sleep(0)  # let each reach the queue (no waiting: one loop turn)
    gate.set()
    assert await blocker
    return list(await asyncio.gather(*jobs, return_exceptions=True))


async def test_a_batch_answering_the_wrong_number_of_results_fails_each_item_cleanly(
    db: Database,
) -> None:
    def sloppy(c: sqlite3.Connection, items: list[int]) -> list[int | BaseException]:
        return [0]  # one result, whatever the number of items

    first, second = await together(db, *(db.run_batched(sloppy, v) for v in (1, 2)))
    # merged, the call is refused; alone, each item gets the one result it asked for
    assert (first, second) == (0, 0)
    assert await db.run(lambda c: 1) == 1  # the database thread is still serving


def test_an_sqlite_too_old_for_the_store_is_refused_clearly() -> None:
    from exchange.store.db import require_sqlite

    require_sqlite(sqlite3.sqlite_version_info)  # this machine's
    require_sqlite((3, 35, 0))
    with pytest.raises(StorageUnavailable, match=r"SQLite is 3\.31\.1; Exchange needs 3\.35\.0"):
        require_sqlite((3, 31, 1))


async def test_writes_counts_this_connections_changes_not_reads(db: Database) -> None:
    before = db.writes
    await db.run(lambda c: c.execute("SELECT COUNT(*) FROM t").fetchone())
    assert db.writes == before

    def insert(c: sqlite3.Connection) -> None:
        with transaction(c):
            c.execute("INSERT INTO t (v) VALUES (41), (42)")

    await db.run(insert)
    assert db.writes == before + 2


@sqlite_only("its page cache (PRAGMA cache_size); PostgreSQL's shared_buffers are the server's")
def test_the_page_cache_is_bounded(db: Database) -> None:
    # a benchmark process holds 125 nodes' connections: SQLite's 2 MB default each
    # kept every node's stored directory in memory
    assert db.run_sync(lambda c: c.execute("PRAGMA cache_size").fetchone()[0]) == -512


def _write(v: int) -> Any:
    def job(c: sqlite3.Connection) -> int:
        with transaction(c):
            c.execute("INSERT INTO t (v) VALUES (?)", (v,))
        return v

    return job


def _count(c: sqlite3.Connection) -> int:
    return int(c.execute("SELECT COUNT(*) FROM t").fetchone()[0])


@sqlite_only("SQLite's statement trace; test_pg_round_trips counts PostgreSQL's round trips")
async def test_a_group_spends_statements_on_its_writers_only(db: Database) -> None:
    # Read-only jobs before the first writer and after the last run alone (no BEGIN,
    # COMMIT or savepoint for them); each writer's savepoint is its transaction's too
    # and is never RELEASEd (COMMIT releases them all). Before: 18 statements.
    seen: list[str] = []
    db.run_sync(lambda c: c.set_trace_callback(seen.append))
    results = await together(
        db, db.run(ReadOnly(_count)), db.run(_write(1)), db.run(_write(2)), db.run(ReadOnly(_count))
    )
    db.run_sync(lambda c: c.set_trace_callback(None))
    assert results == [0, 1, 2, 2]
    assert [" ".join(s.split()[:2]) for s in seen] == [
        "SELECT COUNT(*)", "BEGIN IMMEDIATE", "SAVEPOINT job", "INSERT INTO",
        "SAVEPOINT job", "INSERT INTO", "COMMIT", "SELECT COUNT(*)",
    ]  # fmt: skip


@sqlite_only("SQLite's statement trace; on PostgreSQL read-only jobs run outside the group")
async def test_read_only_jobs_alone_in_a_group_begin_no_transaction(db: Database) -> None:
    seen: list[str] = []
    db.run_sync(lambda c: c.set_trace_callback(seen.append))
    results = await together(db, *(db.run(ReadOnly(_count)) for _ in range(3)))
    db.run_sync(lambda c: c.set_trace_callback(None))
    assert results == [0, 0, 0]
    assert seen == ["SELECT COUNT(*) FROM t"] * 3


@sqlite_only(
    "the order of a group's jobs; on PostgreSQL its read-only jobs run first, outside its"
    " write transaction (test_pg_round_trips.py::test_a_read_only_job_answers_while_...)"
)
async def test_a_read_only_job_between_writers_sees_the_writes_before_it(db: Database) -> None:
    results = await together(
        db, db.run(_write(1)), db.run(ReadOnly(_count)), db.run(_write(2)), db.run(_write(3))
    )
    assert results == [1, 1, 2, 3]
    assert await db.run(_count) == 3


async def test_a_job_that_fails_in_a_group_loses_its_writes_and_no_others(db: Database) -> None:
    caught: list[str] = []

    def bare_then_fail(c: sqlite3.Connection) -> None:
        c.execute("INSERT INTO t (v) VALUES (10)")  # no transaction(): the job's savepoint
        raise RuntimeError("after a write")

    def write_then_fail(c: sqlite3.Connection) -> None:
        c.execute("INSERT INTO t (v) VALUES (20)")
        with transaction(c):  # not the first thing the job wrote: a savepoint of its own
            c.execute("INSERT INTO t (v) VALUES (21)")
        raise RuntimeError("after two")

    def catch_and_go_on(c: sqlite3.Connection) -> int:
        try:
            with transaction(c):  # takes the job's fresh savepoint as its own
                c.execute("INSERT INTO t (v) VALUES (30)")
                c.execute("INSERT INTO t (v) VALUES (1)")  # taken: UNIQUE fails
        except sqlite3.IntegrityError as exc:
            caught.append(str(exc))
        with transaction(c):
            c.execute("INSERT INTO t (v) VALUES (31)")
        return 31

    def nested_fails(c: sqlite3.Connection) -> None:
        with transaction(c):
            c.execute("INSERT INTO t (v) VALUES (40)")
            with transaction(c):
                c.execute("INSERT INTO t (v) VALUES (41)")
            raise RuntimeError("outer")

    results = await together(
        db,
        db.run(_write(1)),
        db.run(bare_then_fail),
        db.run(write_then_fail),
        db.run(catch_and_go_on),
        db.run(nested_fails),
        db.run(_write(2)),
    )
    assert results[0] == 1 and results[3] == 31 and results[5] == 2
    assert [str(r) for r in (results[1], results[2], results[4])] == [
        "after a write", "after two", "outer",
    ]  # fmt: skip
    assert len(caught) == 1
    rows = await db.run(lambda c: [r[0] for r in c.execute("SELECT v FROM t ORDER BY v")])
    assert rows == [1, 2, 31]
    assert not await db.run(lambda c: c.in_transaction)


async def test_a_failing_batch_beside_another_writer_reruns_each_item_alone(
    db: Database,
) -> None:
    # the merged batch opens savepoints of its own inside the job's: its items'
    # transactions must not take the job's savepoint for theirs
    def insert_all(c: sqlite3.Connection, items: list[int]) -> list[int | BaseException]:
        with transaction(c):
            c.executemany("INSERT INTO t (v) VALUES (?)", [(v,) for v in items])
        return list(items)

    await db.run(lambda c: c.execute("INSERT INTO t (v) VALUES (2)"))
    *batched, other = await together(
        db, *(db.run_batched(insert_all, v) for v in (1, 2, 3)), db.run(_write(4))
    )
    assert (batched[0], batched[2], other) == (1, 3, 4)
    assert isinstance(batched[1], sqlite3.IntegrityError)
    rows = await db.run(lambda c: [r[0] for r in c.execute("SELECT v FROM t ORDER BY v")])
    assert rows == [1, 2, 3, 4]


@sqlite_only("SQLite's statement trace; the claim's own tests run on both engines")
async def test_a_read_only_job_leaves_the_requests_claim_to_its_first_writer(
    db: Database,
) -> None:
    # a read-only job changes nothing to claim: no transaction and no mark for it
    # (before: BEGIN IMMEDIATE, the mark's SELECT, the job's, COMMIT)
    now = datetime(2026, 12, 3, tzinfo=UTC)
    claim = Claim("alice", "key-1", "f" * 64, now, now + timedelta(days=1))
    seen: list[str] = []
    db.run_sync(lambda c: c.set_trace_callback(seen.append))
    token = WRITE_CLAIM.set(claim)
    try:
        assert await db.run(ReadOnly(_count)) == 0
        assert seen == ["SELECT COUNT(*) FROM t"] and not claim.bound
        assert await db.run(_write(5)) == 5
    finally:
        WRITE_CLAIM.reset(token)
        db.run_sync(lambda c: c.set_trace_callback(None))
    assert claim.bound
    keys = db.run_sync(lambda c: c.execute("SELECT key FROM idempotency_keys").fetchall())
    assert keys == [("key-1",)]
