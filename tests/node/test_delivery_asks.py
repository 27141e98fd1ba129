"""The delivery worker asks the outbox for a peer's due envelopes once a delivery, not
again while nothing new was queued, and learns in that ask whether files go first
(each ask is a database job: at 1,000 nodes these were ~6 of ~18 jobs a request);
what is queued meanwhile still goes."""

from __future__ import annotations

import asyncio

import pytest

from exchange.service import requests
from exchange.service.forms import RequestForm
from exchange.service.node import Node

from ..federation import Federation, all_delivered, wait_until
from ..postgres import on_postgresql
from .test_encodings_per_request import fed

__all__ = ["fed"]  # two nodes without users, shared with test_encodings_per_request

ASK = "INDEXED BY outbox_emergency"  # the first statement of every ask (store/outbox.due)
BLOBS = "FROM attachments WHERE uploaded = 0"  # store/evidence.to_upload


def _form(subject: str) -> RequestForm:
    return RequestForm(to="MA-CNA", kind="information_request", urgency="urgent",
                       subject=subject, body="Who operates the boat?", language="en")  # fmt: skip


def _trace(node: Node) -> list[str]:
    statements: list[str] = []
    node.db.run_sync(lambda c: c.set_trace_callback(statements.append))
    return statements


@pytest.mark.skipif(on_postgresql(), reason="counts the statements SQLite traces")
async def test_one_delivery_asks_the_outbox_once(fed: Federation) -> None:
    node = fed["ES-CNA"].node
    await wait_until(lambda: all_delivered(node), what="a quiet start")
    statements = _trace(node)
    await requests.create(node, actor="bench", form=_form("One"))
    await wait_until(lambda: all_delivered(node), what="the request receipted")
    asks = [s for s in statements if ASK in s]
    assert len(asks) == 1  # was 2-3: again while it was in flight, and once after
    # no attachment: the ask said so, no job of its own to find that out
    assert not [s for s in statements if BLOBS in s]


async def test_what_is_queued_during_a_delivery_still_goes(fed: Federation) -> None:
    node = fed["ES-CNA"].node
    first = asyncio.ensure_future(requests.create(node, actor="bench", form=_form("First")))
    # queued while the first is (likely) in flight: each creation wakes the worker
    for n in range(5):
        await requests.create(node, actor="bench", form=_form(f"Then {n}"))
    await first
    await wait_until(lambda: all_delivered(node), what="all six receipted")
