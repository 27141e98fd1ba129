"""The whole conversation between real nodes (issue 16, steps 2 to 4 of "done
when"): Morocco acknowledges and asks for more, Spain answers, Morocco answers in
part then in full; Senegal's central authority transfers its request to the
prosecutor's office, Spain sees who holds it, and the prosecutor's office answers
Spain directly."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from exchange.core.audit_entry import decode_entry
from exchange.store import audit

from ..federation import ApiClient, Federation, wait_until

IDS = ["ES-CNA", "MA-CNA", "SN-CNA", "SN-PRD"]
FORM = {
    "kind": "information_request",
    "urgency": "urgent",
    "subject": "Departures Dakar - Nador - Almeria",
    "body": "Who owns the boat that left on 12 May?",
    "language": "fr",
}


@pytest.fixture
async def fed4(tmp_path: Path) -> AsyncIterator[Federation]:
    fed = Federation.create(tmp_path, IDS)
    await fed.start()
    yield fed
    await fed.stop()


async def view(client: ApiClient, request_id: str) -> dict[str, Any]:
    status, body = await client.call("GET", f"/api/requests/{request_id}")
    assert status == 200, body
    return dict(body)


async def until_status(client: ApiClient, request_id: str, want: str) -> dict[str, Any]:
    async def reached() -> dict[str, Any] | None:
        got = await view(client, request_id)
        return got if got["status"] == want else None

    return await wait_until(reached, what=f"{request_id} {want}")


async def incoming(client: ApiClient, msg_id: str) -> str:
    async def found() -> str | None:
        _, body = await client.call("GET", "/api/inbox")
        ids = [r["id"] for r in body["requests"] if r["msg_id"] == msg_id]
        return ids[0] if ids else None

    return await wait_until(found, what=f"{msg_id} in the inbox")


async def say(client: ApiClient, request_id: str, **message: Any) -> dict[str, Any]:
    status, body = await client.call("POST", f"/api/requests/{request_id}/messages", message)
    assert status == 200, body
    return dict(body)


async def test_clarification_then_partial_then_final_response(fed4: Federation) -> None:
    es = await ApiClient(fed4["ES-CNA"]).login("investigator")
    ma = await ApiClient(fed4["MA-CNA"]).login("liaison")
    try:
        _, created = await es.call("POST", "/api/requests", {"to": "MA-CNA", **FORM})
        rid, at_ma = created["id"], await incoming(ma, created["msg_id"])
        assert (await say(ma, at_ma, type="acknowledgement"))["status"] == "acknowledged"
        asked = await say(ma, at_ma, type="clarification_request", body="Which boat name?")
        assert asked["status"] == "awaiting_clarification"
        await until_status(es, rid, "awaiting_clarification")
        answered = await say(es, rid, type="clarification", body="The Nour II.")
        assert answered["status"] == "acknowledged"
        await until_status(ma, at_ma, "acknowledged")
        for part in ("The owner is in Larache.", "His brother sails it."):
            got = await say(ma, at_ma, type="partial_response", body=part)
            assert got["status"] == "partially_answered"
        await until_status(es, rid, "partially_answered")
        got = await say(ma, at_ma, type="response", body="That is all we hold.")
        assert got["status"] == "answered"
        seen = await until_status(es, rid, "answered")
        types = [m["type"] for m in seen["messages"]]
        assert types == [
            "request",
            "acknowledgement",
            "clarification_request",
            "clarification",
            "partial_response",
            "partial_response",
            "response",
        ]
        assert seen["messages"][3]["content"]["body"] == "The Nour II."
        # the requester's own clarification went with a receipt from MA
        await wait_until(
            lambda: _receipted(es, rid, "clarification"), what="the clarification receipted"
        )
        actions = await _actions(fed4, "ES-CNA", rid)
        assert "clarification_given" in actions
        assert "clarification_requested" in await _actions(fed4, "MA-CNA", at_ma)
        assert "request_partially_answered" in await _actions(fed4, "MA-CNA", at_ma)
    finally:
        await es.close()
        await ma.close()


async def test_transfer_to_the_competent_authority(fed4: Federation) -> None:
    es = await ApiClient(fed4["ES-CNA"]).login("investigator")
    sn = await ApiClient(fed4["SN-CNA"]).login("liaison")
    prd = await ApiClient(fed4["SN-PRD"]).login("liaison")
    try:
        _, created = await es.call("POST", "/api/requests", {"to": "SN-CNA", **FORM})
        rid, at_sn = created["id"], await incoming(sn, created["msg_id"])
        assert await tracked(sn, at_sn)
        moved = await say(sn, at_sn, type="transfer", to="SN-PRD", body="Competent: Dakar.")
        assert moved["status"] == "transferred"
        assert not await tracked(sn, at_sn)  # its deadline is the new holder's now
        # Spain sees who holds it now
        seen = await until_status(es, rid, "transferred")
        assert seen["counterpart"] == "SN-PRD"
        assert await tracked(es, rid)  # Spain still waits for an answer
        transfer = [e for e in seen["timeline"] if e["event"] == "transfer"]
        assert transfer[0]["actor"] == "SN-CNA" and transfer[0]["detail"]["to"] == "SN-PRD"
        # the prosecutor's office holds it as Spain's request, the original's ids
        at_prd = await incoming(prd, created["msg_id"])
        held = await view(prd, at_prd)
        assert (held["origin"], held["counterpart"]) == ("ES-CNA", "ES-CNA")
        assert held["messages"][0]["sender"] == "SN-CNA"
        assert held["messages"][0]["content"]["body"] == FORM["body"]
        assert held["messages"][0]["content"]["transfer"] == {
            "origin": "ES-CNA",
            "msg_id": created["msg_id"],
        }
        # the central authority has no more say in it
        status, body = await sn.call(
            "POST", f"/api/requests/{at_sn}/messages", {"type": "response", "body": "Late."}
        )
        assert (status, body["error"]["code"]) == (409, "conflict")
        # the new holder answers Spain itself, and Spain writes to it
        await say(prd, at_prd, type="acknowledgement")
        await until_status(es, rid, "acknowledged")
        await say(prd, at_prd, type="clarification_request", body="Date of departure?")
        await until_status(es, rid, "awaiting_clarification")
        await say(es, rid, type="clarification", body="12 May.")
        await until_status(prd, at_prd, "acknowledged")
        await say(prd, at_prd, type="response", body="The captain is known to us.")
        seen = await until_status(es, rid, "answered")
        assert seen["messages"][-1]["sender"] == "SN-PRD"
        assert "request_transferred" in await _actions(fed4, "SN-CNA", at_sn)
        # nothing was written about it at SN-CNA after the transfer
        assert (await view(sn, at_sn))["status"] == "transferred"
    finally:
        for client in (es, sn, prd):
            await client.close()


async def test_withdrawal_reminder_and_consent(fed4: Federation) -> None:
    es = await ApiClient(fed4["ES-CNA"]).login("investigator")
    ma = await ApiClient(fed4["MA-CNA"]).login("liaison")
    try:
        _, first = await es.call("POST", "/api/requests", {"to": "MA-CNA", **FORM})
        rid, at_ma = first["id"], await incoming(ma, first["msg_id"])
        await until_status(es, rid, "delivered")
        assert (await say(es, rid, type="reminder"))["status"] == "delivered"
        status, body = await es.call(
            "POST", f"/api/requests/{rid}/messages", {"type": "reminder", "body": "Again"}
        )
        assert (status, body["error"]["code"]) == (429, "rate_limited")
        # consent: the recipient asks to pass the request on; the requester refuses
        await say(ma, at_ma, type="consent_request", purpose="disclosure", body="To Interpol?")

        async def consent_msg() -> str | None:
            got = await view(es, rid)
            ids = [m["msg_id"] for m in got["messages"] if m["type"] == "consent_request"]
            return ids[0] if ids else None

        about = await wait_until(consent_msg, what="the consent request at ES")
        await say(es, rid, type="consent", about=about, granted=False, body="Not yet.")
        status, body = await es.call(
            "POST",
            f"/api/requests/{rid}/messages",
            {"type": "consent", "about": about, "granted": True},
        )
        assert (status, body["error"]["code"]) == (409, "conflict")  # answered already
        at_ma_view = await wait_until(
            lambda: _with_type(ma, at_ma, "consent"), what="the consent at MA"
        )
        assert at_ma_view["content"]["granted"] is False
        # withdrawal: final; MA can no longer answer, and neither side tracks its deadline
        assert await tracked(es, rid) and await tracked(ma, at_ma)
        assert (await say(es, rid, type="withdrawal", body="Solved."))["status"] == "withdrawn"
        await until_status(ma, at_ma, "withdrawn")
        assert not await tracked(es, rid) and not await tracked(ma, at_ma)
        status, body = await ma.call(
            "POST", f"/api/requests/{at_ma}/messages", {"type": "response", "body": "Too late."}
        )
        assert (status, body["error"]["code"]) == (409, "conflict")
        status, body = await ma.call("POST", f"/api/requests/{at_ma}/acknowledge")
        assert (status, body["error"]["code"]) == (409, "conflict")
        assert "reminder" in [e["event"] for e in (await view(ma, at_ma))["timeline"]]
    finally:
        await es.close()
        await ma.close()


async def test_wrong_role_or_party_is_refused_and_changes_nothing(fed4: Federation) -> None:
    es = await ApiClient(fed4["ES-CNA"]).login("investigator")
    es_liaison = await ApiClient(fed4["ES-CNA"]).login("liaison")
    ma = await ApiClient(fed4["MA-CNA"]).login("liaison")
    ma_inv = await ApiClient(fed4["MA-CNA"]).login("investigator")
    try:
        _, created = await es.call("POST", "/api/requests", {"to": "MA-CNA", **FORM})
        rid, at_ma = created["id"], await incoming(ma, created["msg_id"])
        await until_status(es, rid, "delivered")
        before_es, before_ma = await view(es, rid), await view(ma, at_ma)
        # our own side asked for a message it never sends: invalid_request (422), as
        # acknowledging a request one sent always was; a peer doing so gets wrong_party
        # (tests/adversarial/test_conversation_parties.py)
        refused = [
            (es, rid, {"type": "withdrawal"}, 400, "malformed"),  # no body
            (es, rid, {"type": "gossip", "body": "x"}, 400, "malformed"),
            (es, rid, {"type": "response", "body": "x"}, 422, "invalid_request"),
            (es, rid, {"type": "transfer", "to": "SN-CNA", "body": "x"}, 422, "invalid_request"),
            (es, rid, {"type": "clarification", "body": "x"}, 409, "conflict"),  # not asked
            (es, rid, {"type": "consent_request", "purpose": "use", "body": "x"}, 409, "conflict"),
            (es_liaison, rid, {"type": "acknowledgement"}, 422, "invalid_request"),
            (ma, at_ma, {"type": "withdrawal", "body": "x"}, 422, "invalid_request"),
            (ma, at_ma, {"type": "reminder"}, 422, "invalid_request"),
            (ma, at_ma, {"type": "clarification", "body": "x"}, 422, "invalid_request"),
            (ma, at_ma, {"type": "transfer", "to": "ES-CNA", "body": "x"}, 422, "invalid_request"),
            (ma, at_ma, {"type": "transfer", "to": "XX-NONE", "body": "x"}, 404, "not_found"),
            (ma, at_ma, {"type": "consent", "about": "msg-x", "granted": True}, 409, "conflict"),
            (
                ma,
                at_ma,
                {"type": "consent_request", "purpose": "sell", "body": "x"},
                400,
                "malformed",
            ),
            (ma_inv, at_ma, {"type": "acknowledgement"}, 404, "not_found"),  # not theirs
        ]
        for client, request_id, message, want_status, code in refused:
            status, body = await client.call(
                "POST", f"/api/requests/{request_id}/messages", message
            )
            assert (status, body["error"]["code"]) == (want_status, code), message
        assert await view(es, rid) == before_es
        assert await view(ma, at_ma) == before_ma
    finally:
        for client in (es, es_liaison, ma, ma_inv):
            await client.close()


async def tracked(client: ApiClient, request_id: str) -> bool:
    """Whether the request is on the node's deadline list."""
    status, body = await client.call("GET", "/api/deadlines")
    assert status == 200, body
    return any(r["request_id"] == request_id for r in body["deadlines"])


async def _receipted(client: ApiClient, request_id: str, msg_type: str) -> bool:
    got = await view(client, request_id)
    return any(m["type"] == msg_type and m["receipt"] for m in got["messages"])


async def _with_type(client: ApiClient, request_id: str, msg_type: str) -> Any:
    got = await view(client, request_id)
    found = [m for m in got["messages"] if m["type"] == msg_type]
    return found[0] if found else None


async def _actions(fed: Federation, authority_id: str, request_id: str) -> list[str]:
    rows = await fed[authority_id].node.db.run(lambda c: audit.entries(c, 0, 10_000))
    logged = [decode_entry(e) for _, e in rows]
    return [e["action"] for e in logged if e.get("request_id") == request_id]
