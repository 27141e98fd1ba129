"""Nodes in one process share its few database threads (``store/lanes.py``). A node
whose database is held busy, by a long job or a pile of queued ones, takes one thread
at most: its neighbours go on exchanging, and its own jobs still run one at a time, in
order, once it is free (the bench packs 125 nodes a process; a production node is alone
in its own)."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from exchange.service import requests
from exchange.service.forms import RequestForm
from exchange.store import lanes

from ..federation import Federation, wait_until

IDS = ["ES-CNA", "MA-CNA", "FR-CNA"]
WAIT = 30.0  # seconds: bounds on waits that end at once when the code is right


@pytest.fixture
async def fed(tmp_path: Path) -> AsyncIterator[Federation]:
    fed = Federation.create(tmp_path / "fed", IDS, users=False)
    await fed.start()
    yield fed
    await fed.stop()


def delivered(conn: sqlite3.Connection) -> int:
    return int(
        conn.execute(
            "SELECT COUNT(*) FROM requests WHERE direction = 'out' AND delivered_at IS NOT NULL"
        ).fetchone()[0]
    )


async def test_a_node_held_busy_does_not_stop_its_neighbours(fed: Federation) -> None:
    busy = fed["ES-CNA"].node.db
    inside, release = threading.Event(), threading.Event()
    order: list[int] = []

    def hold(conn: sqlite3.Connection) -> None:
        inside.set()
        release.wait(WAIT)

    held = asyncio.ensure_future(busy.run(hold))
    await wait_until(inside.is_set, timeout=WAIT, what="the long job to start")
    # more jobs than the process has threads, queued behind the long one
    queued = [
        asyncio.ensure_future(busy.run(lambda c, n=n: order.append(n)))
        for n in range(3 * lanes.POOL_THREADS)
    ]
    sender = fed["MA-CNA"].node
    form = RequestForm(
        to="FR-CNA",
        kind="information_request",
        urgency="urgent",
        subject="Shared threads",
        body="Who operates the boat?",
        language="en",
    )
    try:
        await requests.create(sender, actor="test", form=form)

        async def sent() -> bool:
            return await sender.db.run(delivered) == 1

        await wait_until(sent, timeout=WAIT, what="MA-CNA's request receipted by FR-CNA")
        assert not held.done() and not any(q.done() for q in queued) and order == []
    finally:
        release.set()
    await asyncio.wait_for(asyncio.gather(held, *queued), WAIT)
    assert order == list(range(3 * lanes.POOL_THREADS))  # one at a time, in order
