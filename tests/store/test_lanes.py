"""The databases of one process share a few threads (``store/lanes.py``); each one's
jobs still run one at a time and in order, and a busy one does not hold up the others."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest

from exchange.store import lanes
from exchange.store.db import Database
from exchange.store.lanes import Lane, Threads

WAIT = 10.0  # seconds: a bound on waits that end at once when the code is right


@pytest.fixture
def two() -> Iterator[Threads]:
    threads = Threads(2, name="test")
    yield threads
    threads.shutdown()


@pytest.fixture
def one() -> Iterator[Threads]:
    threads = Threads(1, name="test")
    yield threads
    threads.shutdown()


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


Submit = Callable[[Callable[[], Any]], "Future[Any]"]


def blocked_then(first_submit: Submit, second_submit: Submit, threads: Threads) -> bool:
    """Whether a second task started while the first was still running: the first
    blocks; another lane's work then runs on the free thread (so the threads could have
    started the second task, queued before it); then the first is let go."""
    release, started = threading.Event(), threading.Event()
    first = first_submit(lambda: release.wait(WAIT))
    second = second_submit(started.set)
    other = Lane(threads)
    assert other.submit(lambda: "done").result(WAIT) == "done"
    overlapped = started.is_set()
    release.set()
    assert first.result(WAIT) is True
    second.result(WAIT)
    return overlapped


def test_a_lanes_tasks_never_overlap(two: Threads) -> None:
    lane = Lane(two)
    assert blocked_then(lane.submit, lane.submit, two) is False


def test_the_overlap_check_can_fail(two: Threads) -> None:
    # the same check with the two tasks on two lanes: the second runs at once
    assert blocked_then(Lane(two).submit, Lane(two).submit, two) is True


def test_tasks_run_in_order_and_a_busy_lane_lets_others_through(one: Threads) -> None:
    ran: list[tuple[str, int]] = []
    busy, quiet = Lane(one), Lane(one)
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


def test_a_task_error_reaches_its_caller_and_the_lane_goes_on(two: Threads) -> None:
    lane = Lane(two)
    failing = lane.submit(lambda: 1 // 0)
    after = lane.submit(lambda: "next")
    with pytest.raises(ZeroDivisionError):
        failing.result(WAIT)
    assert after.result(WAIT) == "next"
    lane.shutdown()
    with pytest.raises(RuntimeError):
        lane.submit(lambda: None)


def test_threads_that_stopped_fail_the_tasks_instead_of_hanging(one: Threads) -> None:
    one.shutdown()
    lane = Lane(one)
    future = lane.submit(lambda: "never")
    with pytest.raises(RuntimeError):
        future.result(WAIT)


def test_posted_tasks_run_in_order_with_the_submitted_and_errors_go_nowhere(
    two: Threads,
) -> None:
    # a database's drain is posted (no future): it keeps the lane's order and an error
    # in it does not stop the lane
    ran: list[int] = []
    lane = Lane(two)
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


def test_threads_start_on_first_use() -> None:
    threads = Threads(3, name="lazy")
    try:
        assert not [t for t in threading.enumerate() if t.name.startswith("lazy_")]
        assert Lane(threads).submit(lambda: "ran").result(WAIT) == "ran"
        assert len([t for t in threading.enumerate() if t.name.startswith("lazy_")]) == 3
    finally:
        threads.shutdown()
    assert not [t for t in threading.enumerate() if t.name.startswith("lazy_")]


def test_at_exit_the_running_task_ends_and_a_later_one_is_refused(tmp_path: Path) -> None:
    # The threads are not daemons: the interpreter, exiting, lets the task it finds
    # running finish (a commit is never cut short), refuses the lane's next one instead
    # of leaving its caller waiting, and exits instead of waiting for idle threads.
    script = f"""
        import threading
        from exchange.store.lanes import Lane

        lane, started, exiting = Lane(), threading.Event(), threading.Event()

        def task():
            started.set()
            exiting.wait()
            open({str(tmp_path / "task")!r}, "w").write("finished")

        def refused(later):
            outcome = "refused" if isinstance(later.exception(), RuntimeError) else "ran"
            open({str(tmp_path / "later")!r}, "w").write(outcome)

        def at_exit():  # registered after the lanes' own hook: runs before it
            lane.submit(lambda: None).add_done_callback(refused)
            exiting.set()

        threading._register_atexit(at_exit)
        lane.post(task)
        started.wait()
    """
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)], timeout=60, capture_output=True
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "task").read_text() == "finished"
    assert (tmp_path / "later").read_text() == "refused"
