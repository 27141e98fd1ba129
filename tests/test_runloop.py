"""``wait_event``: the background workers' wake-up wait, which must never swallow a
cancellation (asyncio.wait_for does on Python 3.11, CPython gh-86296: a node whose
delivery worker was woken as it was being stopped then never stopped). ``every``: the
timers all nodes of a process share."""

from __future__ import annotations

import asyncio

import pytest
from structlog.testing import capture_logs

from exchange.runloop import Timer, every, timers, wait_event


async def test_set_or_timed_out() -> None:
    event = asyncio.Event()
    assert await wait_event(event, 0.01) is False
    event.set()
    assert await wait_event(event, 10) is True


async def test_a_cancel_in_the_same_turn_as_the_wake_up_stops_the_worker() -> None:
    for _ in range(20):
        event = asyncio.Event()

        async def worker(event: asyncio.Event) -> None:
            while True:  # the shape of DeliveryWorker.run and DeadlineScheduler.run
                event.clear()
                await wait_event(event, 10)

        task = asyncio.create_task(worker(event))
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        event.set()
        task.cancel()  # the same loop turn as the wake-up
        done, _ = await asyncio.wait({task}, timeout=5)
        assert done and task.cancelled(), "the cancellation was swallowed"


# --- every: shared timers ------------------------------------------------------------


async def test_callbacks_of_one_interval_share_one_timer() -> None:
    calls: list[str] = []
    both = asyncio.Event()

    def note(name: str) -> None:
        calls.append(name)
        if {"a", "b"} <= set(calls):
            both.set()

    a = every(0.01, lambda: note("a"))
    b = every(0.01, lambda: note("b"))
    c = every(0.02, lambda: None)
    try:
        assert timers() == {0.01: 2, 0.02: 1}
        assert await wait_event(both, 5)
        # one tick calls both, one after the other, in the order they were added
        assert calls[calls.index("a") + 1] == "b"
    finally:
        a.cancel()
        b.cancel()
        c.cancel()
    assert timers() == {}  # the last one gone, its timer is gone too


async def test_a_cancelled_callback_is_not_called_again() -> None:
    calls: list[str] = []
    ticked = asyncio.Event()
    held: dict[str, Timer] = {}

    def first() -> None:
        calls.append("first")
        held["second"].cancel()  # in the tick that was about to call it

    def last() -> None:
        calls.append("last")
        ticked.set()

    a = every(0.01, first)
    held["second"] = every(0.01, lambda: calls.append("second"))
    c = every(0.01, last)
    try:
        assert await wait_event(ticked, 5)
        ticked.clear()
        assert await wait_event(ticked, 5)  # and the next tick
        assert calls[:4] == ["first", "last", "first", "last"]
        held["second"].cancel()  # again: nothing happens
    finally:
        a.cancel()
        c.cancel()
    assert timers() == {}


async def test_a_failing_callback_is_logged_and_the_others_still_run() -> None:
    done = asyncio.Event()
    fails = 0

    def fail() -> None:
        nonlocal fails
        fails += 1
        raise OSError("the file went away")

    def count() -> None:
        if fails >= 2:  # called again at the next tick
            done.set()

    with capture_logs() as logs:
        a = every(0.01, fail)
        b = every(0.01, count)
        try:
            assert await wait_event(done, 5)
        finally:
            a.cancel()
            b.cancel()
    assert [e["event"] for e in logs if e["log_level"] == "error"][:2] == [
        "timer_callback_failed",
        "timer_callback_failed",
    ]


async def test_an_interval_must_be_positive() -> None:
    with pytest.raises(ValueError):
        every(0, lambda: None)
