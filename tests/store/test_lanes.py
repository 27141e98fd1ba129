"""The databases of one process share a few threads (``store/lanes.py``); each one's
jobs still run one at a time and in order, and a busy one does not hold up the others."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from exchange.store import lanes
from exchange.store.db import Database
from exchange.store.lanes import Lane

WAIT = 10.0  # seconds: a bound on waits that end at once when the code is right


async def test_many_databases_share_the_process_database_threads(tmp_path: Path) -> None:
    # 125 nodes in a benchmark process had 125 database threads (one GIL, 125 stacks)
    dbs = [Database(tmp_path / f"n{i}.db") for i in range(20)]
    try:
        used = await asyncio.gather(*(db.run(lambda c: threading.get_ident()) for db in dbs))
        names = [t.name for t in threading.enumerate() if t.name.startswith("sqlite")]
    finally:
        for db in dbs:
            db.close()
    assert len(set(used)) <= lanes.POOL_THREADS < len(dbs)
    assert len(names) <= lanes.POOL_THREADS


def blocked_then(lane_submit: Any, pool: ThreadPoolExecutor) -> bool:
    """Whether a lane's second task started while its first was still running: the
    first blocks; another lane's work then runs on the pool's free thread (so the pool
    could have started the second task, queued before it); then the first is let go."""
    release, started = threading.Event(), threading.Event()
    first = lane_submit(lambda: release.wait(WAIT))
    second = lane_submit(started.set)
    other = Lane(pool)
    assert other.submit(lambda: "done").result(WAIT) == "done"
    overlapped = started.is_set()
    release.set()
    assert first.result(WAIT) is True
    second.result(WAIT)
    return overlapped


def test_a_lanes_tasks_never_overlap() -> None:
    with ThreadPoolExecutor(max_workers=2) as pool:
        assert blocked_then(Lane(pool).submit, pool) is False


def test_the_overlap_check_can_fail() -> None:
    # the same check on the pool itself (no lane): the second task runs at once
    with ThreadPoolExecutor(max_workers=2) as pool:
        assert blocked_then(pool.submit, pool) is True


def test_tasks_run_in_order_and_a_busy_lane_lets_others_through() -> None:
    ran: list[tuple[str, int]] = []
    with ThreadPoolExecutor(max_workers=1) as pool:
        busy, quiet = Lane(pool), Lane(pool)
        gate = threading.Event()
        busy.submit(lambda: gate.wait(WAIT))  # holds the only thread while we queue
        futures: list[Future[None]] = [
            busy.submit(lambda n=n: ran.append(("busy", n))) for n in range(50)
        ]
        futures.append(quiet.submit(lambda: ran.append(("quiet", 0))))
        gate.set()
        for future in futures:
            future.result(WAIT)
    assert [n for lane, n in ran if lane == "busy"] == list(range(50))
    assert ran.index(("quiet", 0)) < 3  # one turn each, not all of the busy lane first


def test_a_task_error_reaches_its_caller_and_the_lane_goes_on() -> None:
    with ThreadPoolExecutor(max_workers=2) as pool:
        lane = Lane(pool)
        failing = lane.submit(lambda: 1 // 0)
        after = lane.submit(lambda: "next")
        with pytest.raises(ZeroDivisionError):
            failing.result(WAIT)
        assert after.result(WAIT) == "next"
        lane.shutdown()
        with pytest.raises(RuntimeError):
            lane.submit(lambda: None)


def test_a_pool_that_stopped_fails_the_tasks_instead_of_hanging() -> None:
    pool = ThreadPoolExecutor(max_workers=1)
    pool.shutdown()
    lane = Lane(pool)
    future = lane.submit(lambda: "never")
    with pytest.raises(RuntimeError):
        future.result(WAIT)


def test_posted_tasks_run_in_order_with_the_submitted_and_errors_go_nowhere() -> None:
    # a database's drain is posted (no future): it keeps the lane's order and an error
    # in it does not stop the lane
    ran: list[int] = []
    with ThreadPoolExecutor(max_workers=2) as pool:
        lane = Lane(pool)
        gate = threading.Event()
        lane.submit(lambda: gate.wait(WAIT))

        def fail() -> None:
            ran.append(1)
            raise RuntimeError("nobody reads this")

        lane.post(lambda: ran.append(0))
        lane.post(fail)
        last = lane.submit(lambda: ran.append(2))
        gate.set()
        last.result(WAIT)
    assert ran == [0, 1, 2]
