"""``wait_event``: the background workers' wake-up wait, which must never swallow a
cancellation (asyncio.wait_for does on Python 3.11, CPython gh-86296: a node whose
delivery worker was woken as it was being stopped then never stopped)."""

from __future__ import annotations

import asyncio

from exchange.runloop import wait_event


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
