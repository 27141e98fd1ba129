"""A hostile peer speaking the real protocol with its own keys sends conversation
messages it has no right to (issue 16, item 5): each is refused with its precise code,
gets no receipt, and changes nothing stored. docs/THREAT_MODEL.md, "The conversation".
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from exchange.core.content import follow_up_content
from exchange.core.roles import Role
from exchange.service import follow_ups, requests
from exchange.service.forms import RequestForm
from exchange.service.sessions import User

from ..federation import Federation, peer_post, wait_until
from ..node.test_peer_rejections import CONTENT, envelope, snapshot, thread

H2 = {"handling": {"code": "H2", "use_limitation": True, "confidential": True}}
FIELDS: dict[str, dict[str, Any]] = {
    "acknowledgement": {},
    "response": {"body": "Here.", "language": "en", **H2},
    "partial_response": {"body": "Part.", "language": "en", **H2},
    "clarification_request": {"body": "Which?"},
    "clarification": {"body": "That one."},
    "transfer": {"body": "Not ours.", "to": "SN-PRD"},
    "withdrawal": {"body": "No longer needed."},
    "reminder": {"body": ""},
    "consent_request": {"body": "May we?", "purpose": "use"},
    "consent": {"body": "", "about": "msg-nothing-01", "granted": True},
}


@pytest.fixture
async def fed(tmp_path: Path) -> AsyncIterator[Federation]:
    fed = Federation.create(tmp_path, ["ES-CNA", "MA-CNA", "SN-CNA", "SN-PRD"], users=False)
    await fed.start()
    yield fed
    await fed.stop()


def message(
    fed: Federation, sender: str, recipient: str, msg_type: str, ref: dict[str, str], n: int
) -> bytes:
    content = follow_up_content(msg_type, **ref, **FIELDS[msg_type])
    return envelope(fed, sender, recipient, f"msg-hostile-{n:05}", content, msg_type=msg_type)


async def sent_by_es(fed: Federation, to: str = "MA-CNA") -> dict[str, str]:
    """A real request from ES, receipted by ``to``: its thread reference."""
    created = await requests.create(
        fed["ES-CNA"].node, actor="investigator", form=RequestForm.of({"to": to, **CONTENT})
    )
    ref = {"origin": "ES-CNA", "msg_id": created.msg_id}

    async def delivered() -> bool:
        return (await thread(fed, "ES-CNA", **ref))["status"] == "delivered"

    await wait_until(delivered, what="the request receipted")
    return ref


async def refused(
    fed: Federation, sender: str, recipient: str, body: bytes, code: str, status: int
) -> None:
    got_status, got = await peer_post(fed, sender, recipient, "/v1/envelopes", body)
    assert (got_status, got.get("error", {}).get("code")) == (status, code)
    assert "receipt" not in got


async def test_the_recipient_cannot_speak_for_the_requester(fed: Federation) -> None:
    """MA, which received ES's request, sends ES a withdrawal, a clarification, a
    reminder: wrong_party, nothing changes at ES."""
    ref = await sent_by_es(fed)
    before, request = await snapshot(fed, "ES-CNA"), await thread(fed, "ES-CNA", **ref)
    for n, msg_type in enumerate(("withdrawal", "clarification", "reminder")):
        body = message(fed, "MA-CNA", "ES-CNA", msg_type, ref, n)
        await refused(fed, "MA-CNA", "ES-CNA", body, "wrong_party", 403)
    assert await thread(fed, "ES-CNA", **ref) == request
    assert await snapshot(fed, "ES-CNA") == before


async def test_the_requester_cannot_act_as_the_recipient(fed: Federation) -> None:
    """ES, which sent the request, sends MA a transfer, a partial response or a
    clarification request about it: wrong_party; a clarification never asked for:
    conflict; a consent request before any answer: conflict. Nothing changes at MA."""
    ref = await sent_by_es(fed)
    before, request = await snapshot(fed, "MA-CNA"), await thread(fed, "MA-CNA", **ref)
    for n, msg_type in enumerate(("transfer", "partial_response", "clarification_request")):
        body = message(fed, "ES-CNA", "MA-CNA", msg_type, ref, n)
        await refused(fed, "ES-CNA", "MA-CNA", body, "wrong_party", 403)
    for n, msg_type in enumerate(("clarification", "consent_request", "consent"), start=10):
        body = message(fed, "ES-CNA", "MA-CNA", msg_type, ref, n)
        await refused(fed, "ES-CNA", "MA-CNA", body, "conflict", 409)
    assert await thread(fed, "MA-CNA", **ref) == request
    assert await snapshot(fed, "MA-CNA") == before


async def test_a_third_party_cannot_take_over_a_request(fed: Federation) -> None:
    """SN sends ES a transfer of ES's request to MA (naming itself or another); SN-PRD,
    to which SN "forwarded" a copy of the request on its own, answers ES: both
    wrong_party. Only the authority ES wrote to may transfer it."""
    ref = await sent_by_es(fed)
    before, request = await snapshot(fed, "ES-CNA"), await thread(fed, "ES-CNA", **ref)
    body = message(fed, "SN-CNA", "ES-CNA", "transfer", ref, 1)
    await refused(fed, "SN-CNA", "ES-CNA", body, "wrong_party", 403)
    # SN forges a transfer to SN-PRD: SN-PRD stores it as ES's request...
    forged = {**CONTENT, "transfer": ref}
    body = envelope(fed, "SN-CNA", "SN-PRD", "msg-forged-0001", forged)
    status, _ = await peer_post(fed, "SN-CNA", "SN-PRD", "/v1/envelopes", body)
    assert status == 200
    # ...and its answers to ES are refused: ES never saw a transfer from MA
    for n, msg_type in enumerate(("acknowledgement", "response"), start=2):
        body = message(fed, "SN-PRD", "ES-CNA", msg_type, ref, n)
        await refused(fed, "SN-PRD", "ES-CNA", body, "wrong_party", 403)
    assert await thread(fed, "ES-CNA", **ref) == request
    assert await snapshot(fed, "ES-CNA") == before


async def test_after_a_transfer_only_the_new_holder_answers(fed: Federation) -> None:
    """MA transfers ES's request to SN-PRD (a real, signed transfer): ES now refuses
    MA's answers (wrong_party) and accepts SN-PRD's."""
    ref = await sent_by_es(fed)
    at_ma = (await thread(fed, "MA-CNA", **ref))["id"]
    liaison = User("liaison", Role.LIAISON, "csrf")
    await follow_ups.follow_up(
        fed["MA-CNA"].node, liaison, at_ma, "transfer", {"to": "SN-PRD", "body": "Dakar."}
    )

    async def moved() -> bool:
        return (await thread(fed, "ES-CNA", **ref))["counterpart"] == "SN-PRD"

    await wait_until(moved, what="the transfer at ES")
    before, request = await snapshot(fed, "ES-CNA"), await thread(fed, "ES-CNA", **ref)
    assert request["status"] == "transferred"
    body = message(fed, "MA-CNA", "ES-CNA", "response", ref, 1)
    await refused(fed, "MA-CNA", "ES-CNA", body, "wrong_party", 403)
    assert await thread(fed, "ES-CNA", **ref) == request
    assert await snapshot(fed, "ES-CNA") == before
    body = message(fed, "SN-PRD", "ES-CNA", "response", ref, 2)
    status, _ = await peer_post(fed, "SN-PRD", "ES-CNA", "/v1/envelopes", body)
    assert status == 200
    assert (await thread(fed, "ES-CNA", **ref))["status"] == "answered"


async def test_a_withdrawn_request_takes_no_answer(fed: Federation) -> None:
    """ES withdraws; MA's later response is refused at ES with conflict."""
    ref = await sent_by_es(fed)
    rid = (await thread(fed, "ES-CNA", **ref))["id"]
    investigator = User("investigator", Role.INVESTIGATOR, "csrf")
    await follow_ups.follow_up(
        fed["ES-CNA"].node, investigator, rid, "withdrawal", {"body": "Solved."}
    )

    async def receipted() -> bool:  # the withdrawal delivered: nothing more in flight
        timeline = (await thread(fed, "ES-CNA", **ref))["timeline"]
        return any(
            e["detail"].get("type") == "withdrawal" and "receipt_sha256" in e["detail"]
            for e in timeline
        )

    await wait_until(receipted, what="the withdrawal receipted")
    before, request = await snapshot(fed, "ES-CNA"), await thread(fed, "ES-CNA", **ref)
    body = message(fed, "MA-CNA", "ES-CNA", "response", ref, 1)
    await refused(fed, "MA-CNA", "ES-CNA", body, "conflict", 409)
    assert await thread(fed, "ES-CNA", **ref) == request
    assert await snapshot(fed, "ES-CNA") == before


async def test_reminders_from_a_peer_are_rate_limited(fed: Federation) -> None:
    """ES's node may send one reminder an hour: a second within the hour is refused
    rate_limited (retryable later) and stores nothing."""
    ref = await sent_by_es(fed)
    first = message(fed, "ES-CNA", "MA-CNA", "reminder", ref, 1)
    status, _ = await peer_post(fed, "ES-CNA", "MA-CNA", "/v1/envelopes", first)
    assert status == 200
    before, request = await snapshot(fed, "MA-CNA"), await thread(fed, "MA-CNA", **ref)
    body = message(fed, "ES-CNA", "MA-CNA", "reminder", ref, 2)
    await refused(fed, "ES-CNA", "MA-CNA", body, "rate_limited", 429)
    assert await thread(fed, "MA-CNA", **ref) == request
    assert await snapshot(fed, "MA-CNA") == before


async def test_a_transferred_request_cannot_name_a_request_held_already(
    fed: Federation,
) -> None:
    """A "transferred" request naming this node as its requester, its sender as the
    requester, or a request this node holds: refused, nothing stored."""
    ref = await sent_by_es(fed)
    before = await snapshot(fed, "MA-CNA")
    cases = [
        ({"origin": "MA-CNA", "msg_id": "msg-mine-00001"}, "invalid_request", 422),
        ({"origin": "SN-CNA", "msg_id": "msg-self-00001"}, "invalid_request", 422),
        (ref, "conflict", 409),  # MA holds ES's request already
    ]
    for n, (transfer, code, status) in enumerate(cases):
        body = envelope(
            fed, "SN-CNA", "MA-CNA", f"msg-fwd-{n:05}", {**CONTENT, "transfer": transfer}
        )
        await refused(fed, "SN-CNA", "MA-CNA", body, code, status)
    assert await snapshot(fed, "MA-CNA") == before
