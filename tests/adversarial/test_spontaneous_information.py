"""Spontaneous information (UNTOC art. 18(4)) awaits no answer: a hostile peer that
answers it, asks about it, transfers or rejects it is refused (``invalid_request``,
422, no receipt, nothing stored); one that sends it with a deadline, to start a clock
on us, is refused as ``malformed``. docs/THREAT_MODEL.md, "The conversation"."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from exchange.core.canonical import format_time
from exchange.core.content import follow_up_content
from exchange.service import requests
from exchange.service.forms import RequestForm

from ..federation import Federation, peer_post, wait_until
from ..node.test_peer_rejections import CONTENT, envelope, snapshot, thread
from .test_conversation_parties import FIELDS, refused

SPONTANEOUS = {**CONTENT, "kind": "spontaneous_information"}


def message(
    fed: Federation, sender: str, recipient: str, msg_type: str, ref: dict[str, str], n: int
) -> bytes:
    fields = {**FIELDS, "rejection": {"reason": "Not ours."}}[msg_type]
    content = follow_up_content(msg_type, **ref, **fields)
    return envelope(fed, sender, recipient, f"msg-hostile-{n:05}", content, msg_type=msg_type)


@pytest.fixture
async def fed(tmp_path: Path) -> AsyncIterator[Federation]:
    fed = Federation.create(tmp_path, ["ES-CNA", "MA-CNA", "SN-PRD"], users=False)
    await fed.start()
    yield fed
    await fed.stop()


async def test_an_answer_to_spontaneous_information_is_refused(fed: Federation) -> None:
    created = await requests.create(
        fed["ES-CNA"].node,
        actor="investigator",
        form=RequestForm.of({"to": "MA-CNA", **SPONTANEOUS}),
    )
    ref = {"origin": "ES-CNA", "msg_id": created.msg_id}

    async def delivered() -> bool:
        return (await thread(fed, "ES-CNA", **ref))["status"] == "delivered"

    await wait_until(delivered, what="the information receipted")
    before, sent = await snapshot(fed, "ES-CNA"), await thread(fed, "ES-CNA", **ref)
    kinds = ("response", "partial_response", "clarification_request", "transfer", "rejection")
    for n, msg_type in enumerate(kinds):
        body = message(fed, "MA-CNA", "ES-CNA", msg_type, ref, n)
        await refused(fed, "MA-CNA", "ES-CNA", body, "invalid_request", 422)
    assert await thread(fed, "ES-CNA", **ref) == sent
    assert await snapshot(fed, "ES-CNA") == before
    # what it may say: that it received it (with its reference)
    body = message(fed, "MA-CNA", "ES-CNA", "acknowledgement", ref, 10)
    status, got = await peer_post(fed, "MA-CNA", "ES-CNA", "/v1/envelopes", body)
    assert status == 200 and "receipt" in got
    assert (await thread(fed, "ES-CNA", **ref))["status"] == "acknowledged"
    assert sent["deadline"] is None and sent["kind"] == "spontaneous_information"


async def test_spontaneous_information_with_a_deadline_is_refused(fed: Federation) -> None:
    before = await snapshot(fed, "MA-CNA")
    deadline = format_time(fed.clock.now() + timedelta(days=3))  # a well-formed one
    content = {**SPONTANEOUS, "deadline": deadline}
    body = envelope(fed, "SN-PRD", "MA-CNA", "msg-hostile-dl01", content)
    status, got = await peer_post(fed, "SN-PRD", "MA-CNA", "/v1/envelopes", body)
    assert (status, got["error"]["code"]) == (400, "malformed")
    assert "deadline" in got["error"]["message"] and "receipt" not in got
    assert await snapshot(fed, "MA-CNA") == before
