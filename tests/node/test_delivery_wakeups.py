"""A wake-up names the peer a message was queued to: the delivery worker then asks the
outbox about that peer's queue alone (one ``due`` job), neither every peer's
(``next_due``) nor, for another peer's wake-up, a queue it has taken whole (at 193
nodes: ``due`` 2.53 -> 1.00 a request, ``next_due`` 1.65 -> 0.05). Every use case that
queues a message names its peers (a transfer: two; a membership list: each member);
a wake-up naming none still looks at every queue, as does the worker's first turn
(what a restart left); an envelope not yet due when its drain asked goes at its time.

The counts are the worker's own (``DeliveryWorker.asks``), checked against the
statements SQLite runs where the engine is SQLite."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from exchange.core.canonical import parse_time
from exchange.core.clock import SystemClock
from exchange.service import requests
from exchange.service.forms import RequestForm
from exchange.service.node import Node
from exchange.web.appkeys import WORKER_KEY
from exchange.workers.delivery import DeliveryWorker, OutboxAsks

from ..federation import ApiClient, Federation, Member, wait_until
from ..postgres import on_postgresql
from .test_case_sharing import invited, states
from .test_conversation import FORM, incoming, say, until_status

DUE = "INDEXED BY outbox_emergency"  # the first statement of every due ask (store/outbox.due)
NEXT_DUE = "SELECT peer, MIN(next_attempt_at) FROM outbox"  # store/outbox.next_due


@pytest.fixture
async def fed(tmp_path: Path) -> AsyncIterator[Federation]:
    federation = Federation.create(tmp_path, ["ES-CNA", "MA-CNA", "FR-CNA"], users=False)
    await federation.start()
    yield federation
    await federation.stop()


def worker(member: Member) -> DeliveryWorker:
    assert member.running is not None
    return member.running.app[WORKER_KEY]


def asked(member: Member) -> OutboxAsks:
    """A copy of the worker's counts so far."""
    asks = worker(member).asks
    return OutboxAsks(asks.every_peer, asks.peer.copy())


async def quiet(member: Member) -> None:
    """Its first look at every queue done, no drain running, nothing waiting."""
    await wait_until(lambda: worker(member).asks.every_peer >= 1, what="the first look")
    await wait_until(lambda: not draining(), what="no drain running")
    await wait_until(lambda: _all_delivered(member.node), what="nothing waiting")


def draining() -> list[str]:
    return [t.get_name() for t in asyncio.all_tasks() if t.get_name().startswith("deliver-")]


async def _all_delivered(node: Node) -> bool:
    waiting: int = await node.db.run(
        lambda c: c.execute("SELECT COUNT(*) FROM outbox WHERE state = 'pending'").fetchone()[0]
    )
    return waiting == 0


async def send(node: Node, to: str, subject: str = "Vessel") -> None:
    form = RequestForm(to=to, kind="information_request", urgency="urgent",
                       subject=subject, body="Who operates the boat?", language="en")  # fmt: skip
    await requests.create(node, actor="bench", form=form)


async def delivered(member: Member) -> None:
    await wait_until(lambda: _all_delivered(member.node), what="everything receipted")
    await wait_until(lambda: not draining(), what="the drains ended")


def _trace(node: Node) -> list[str]:
    statements: list[str] = []
    node.db.run_sync(lambda c: c.set_trace_callback(statements.append))
    return statements


async def test_a_request_asks_its_peers_queue_alone(fed: Federation) -> None:
    es = fed["ES-CNA"]
    await quiet(es)
    await send(es.node, "FR-CNA", "First")
    await delivered(es)
    before = asked(es)
    statements = [] if on_postgresql() else _trace(es.node)
    await send(es.node, "MA-CNA")
    await delivered(es)
    after = asked(es)
    assert after.every_peer == before.every_peer  # was 1-2 a request (next_due)
    assert after.peer["MA-CNA"] == before.peer["MA-CNA"] + 1  # was 2-3 (due)
    assert after.peer["FR-CNA"] == before.peer["FR-CNA"]  # another peer's queue: not asked
    if statements:  # the counts are the asks the database ran
        assert not [s for s in statements if NEXT_DUE in s]
        assert len([s for s in statements if DUE in s and "'MA-CNA'" in s]) == 1
        assert not [s for s in statements if DUE in s and "'FR-CNA'" in s]


async def test_wake_ups_for_one_peer_leave_the_others_queues_alone(fed: Federation) -> None:
    es = fed["ES-CNA"]
    await quiet(es)
    before = asked(es)
    await send(es.node, "FR-CNA", "First")
    # queued while FR-CNA's drain (likely) runs: its queue, taken whole, is not asked again
    for n in range(3):
        await send(es.node, "MA-CNA", f"Then {n}")
    await delivered(es)
    after = asked(es)
    assert after.every_peer == before.every_peer
    assert after.peer["FR-CNA"] == before.peer["FR-CNA"] + 1
    assert 1 <= after.peer["MA-CNA"] - before.peer["MA-CNA"] <= 3  # at most one a wake-up


async def test_a_wake_up_naming_no_peer_looks_at_every_queue(fed: Federation) -> None:
    es = fed["ES-CNA"]
    await quiet(es)
    before = asked(es).every_peer
    es.node.wake_delivery()
    await wait_until(lambda: worker(es).asks.every_peer == before + 1, what="a look at all")


async def test_what_a_restart_left_goes_at_the_first_look(fed: Federation) -> None:
    es = fed["ES-CNA"]
    await fed.stop("MA-CNA")
    await send(es.node, "MA-CNA")  # refused: it waits for its retry in the outbox
    await wait_until(
        lambda: es.node.db.run(
            lambda c: c.execute(
                "SELECT COUNT(*) FROM outbox WHERE last_error IS NOT NULL"
            ).fetchone()[0]
        ),
        what="a failed attempt",
    )
    await fed.stop("ES-CNA")
    await fed.start("MA-CNA")
    await fed.start("ES-CNA")  # nothing wakes it: its first look finds the message
    await wait_until(lambda: _all_delivered(fed["ES-CNA"].node), what="delivered after restart")
    assert worker(fed["ES-CNA"]).asks.every_peer >= 1


@pytest.fixture
async def fed4(tmp_path: Path) -> AsyncIterator[Federation]:
    federation = Federation.create(tmp_path, ["ES-CNA", "SN-CNA", "SN-PRD"])
    await federation.start()
    yield federation
    await federation.stop()


async def test_a_transfer_wakes_the_requester_and_the_new_holder(fed4: Federation) -> None:
    es = await ApiClient(fed4["ES-CNA"]).login("investigator")
    sn = await ApiClient(fed4["SN-CNA"]).login("liaison")
    prd = await ApiClient(fed4["SN-PRD"]).login("liaison")
    try:
        _, created = await es.call("POST", "/api/requests", {"to": "SN-CNA", **FORM})
        at_sn = await incoming(sn, created["msg_id"])
        await quiet(fed4["SN-CNA"])
        before = asked(fed4["SN-CNA"])
        await say(sn, at_sn, type="transfer", to="SN-PRD", body="Competent: Dakar.")
        # the notice to the requester, the request to its new holder: each peer woken
        await until_status(es, created["id"], "transferred")
        await incoming(prd, created["msg_id"])
        await delivered(fed4["SN-CNA"])
        after = asked(fed4["SN-CNA"])
        assert after.every_peer == before.every_peer
        assert after.peer["ES-CNA"] == before.peer["ES-CNA"] + 1
        assert after.peer["SN-PRD"] == before.peer["SN-PRD"] + 1
    finally:
        for client in (es, sn, prd):
            await client.close()


@pytest.fixture
async def fed_cases(tmp_path: Path) -> AsyncIterator[Federation]:
    federation = Federation.create(tmp_path, ["ES-CNA", "MA-CNA", "SN-CNA"])
    await federation.start()
    yield federation
    await federation.stop()


async def test_case_messages_wake_the_peers_they_go_to(fed_cases: Federation) -> None:
    """The invitation, the acceptance and the member list the origin seals to each
    member (the store chooses them): each wakes its peer by name."""
    fed = fed_cases
    for member in (fed["ES-CNA"], fed["MA-CNA"]):
        await quiet(member)
    before = {a: asked(fed[a]) for a in ("ES-CNA", "MA-CNA")}
    es, ma, _, copy = await invited(fed)
    try:
        status, _ = await ma.call("POST", f"/api/cases/{copy}/accept", {"reference": "MA-77"})
        assert status == 202

        async def ma_told() -> bool:
            _, view = await ma.call("GET", f"/api/cases/{copy}")
            return states(view) == {"ES-CNA": "member", "MA-CNA": "member"}

        await wait_until(ma_told, what="the member list at MA")
        for member in (fed["ES-CNA"], fed["MA-CNA"]):
            await delivered(member)
        after = {a: asked(fed[a]) for a in ("ES-CNA", "MA-CNA")}
        assert after["ES-CNA"].every_peer == before["ES-CNA"].every_peer
        assert after["MA-CNA"].every_peer == before["MA-CNA"].every_peer
        assert after["ES-CNA"].peer["MA-CNA"] > before["ES-CNA"].peer["MA-CNA"]
        assert after["MA-CNA"].peer["ES-CNA"] > before["MA-CNA"].peer["ES-CNA"]
        assert after["ES-CNA"].peer["SN-CNA"] == before["ES-CNA"].peer["SN-CNA"]
    finally:
        await es.close()
        await ma.close()


class AheadClock(SystemClock):
    def __init__(self, offset: timedelta) -> None:
        self.offset = offset

    def now(self) -> datetime:
        return super().now() + self.offset


async def test_a_message_not_yet_due_goes_at_its_time(tmp_path: Path) -> None:
    """MA answers a request from ES, whose clock runs 3 s ahead: MA signs its answer no
    earlier than the request (``follow_ups``), 3 s in MA's future, so the answer's drain
    finds nothing due yet, and learns in the same ask when it will be."""
    fed = Federation.create(tmp_path, ["ES-CNA", "MA-CNA"])
    fed.clocks["ES-CNA"] = AheadClock(timedelta(seconds=3))
    await fed.start()
    es = await ApiClient(fed["ES-CNA"]).login("investigator")
    ma = await ApiClient(fed["MA-CNA"]).login("liaison")
    try:
        _, created = await es.call("POST", "/api/requests", {"to": "MA-CNA", **FORM})
        at_ma = await incoming(ma, created["msg_id"])
        await quiet(fed["MA-CNA"])
        await say(ma, at_ma, type="acknowledgement")
        due_at = await _due_at(fed["MA-CNA"])
        assert due_at > fed["MA-CNA"].node.clock.now()  # not due yet: the case in point
        # well before the worker's idle look (30 s) at every queue
        await until_status(es, created["id"], "acknowledged")
    finally:
        await es.close()
        await ma.close()
        await fed.stop()


async def _due_at(member: Member) -> datetime:
    rows: list[Any] = await member.node.db.run(
        lambda c: c.execute("SELECT next_attempt_at FROM outbox WHERE state = 'pending'").fetchall()
    )
    assert len(rows) == 1, rows
    return parse_time(rows[0][0])
