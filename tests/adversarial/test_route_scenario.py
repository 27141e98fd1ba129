"""Issue 16, "Done when", through the JSON API of four real nodes, and the refusals
along the way. Spain opens a case on the route Dakar (SN, origin) -> Nador (MA,
transit) -> Almeria (ES, destination) and sends ONE urgent H2 request, with its
reference, to Morocco and Senegal. Morocco acknowledges with its own reference, asks
for more, Spain answers; Morocco answers in part, then in full. Senegal's central
authority transfers its copy to the prosecutor's office, and Spain sees who holds it.
Spain's case page shows each recipient's status, both references, H2 and every receipt.

A wrong-role or wrong-party action on any of these is refused with its precise code,
and nothing stored changes: Morocco's investigator acknowledging (role), Morocco
withdrawing Spain's request (side), another Spanish investigator or a wrong id
(not found), Senegal's central authority answering after its transfer, through its
own API (conflict) and as a hostile peer with its own keys (wrong_party)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from exchange.ops.provision import add_user

from ..federation import PASSWORD, ApiClient, Federation, wait_until
from ..node.test_conversation import incoming, say, until_status
from .test_case_access import stored
from .test_conversation_parties import message, refused

IDS = ["ES-CNA", "MA-CNA", "SN-CNA", "SN-PRD"]
H2 = {"code": "H2", "use_limitation": True, "confidential": True}
CASE = {
    "title": "Boats Dakar - Nador - Almeria",
    "reference": "UCRIF-AL-2026-0042",
    "offences": ["migrant_smuggling"],
    "route": [
        {"country": "SN", "role": "origin"},
        {"country": "MA", "role": "transit"},
        {"country": "ES", "role": "destination"},
    ],
}
FORM = {
    "kind": "information_request",
    "urgency": "urgent",
    "subject": "Departures Dakar - Nador - Almeria",
    "body": "Who owns the boat that left Dakar on 12 May?",
    "language": "fr",
    "reference": "UCRIF-AL-2026-0042/3",
    "handling": H2,
}


@pytest.fixture
async def fed4(tmp_path: Path) -> AsyncIterator[Federation]:
    fed = Federation.create(tmp_path, IDS)
    add_user(fed["ES-CNA"].data, username="colleague", password=PASSWORD, role="investigator")
    await fed.start()
    yield fed
    await fed.stop()


async def unchanged(fed: Federation, where: str, act: Callable[[], Awaitable[None]]) -> None:
    """``act`` (a refusal) changes nothing stored at ``where``."""
    before = await stored(fed[where])
    await act()
    assert await stored(fed[where]) == before


async def refusal(
    client: ApiClient, path: str, body: dict[str, Any], status: int, code: str
) -> Callable[[], Awaitable[None]]:
    async def act() -> None:
        got_status, got = await client.call("POST", path, body)
        assert (got_status, got.get("error", {}).get("code")) == (status, code), (path, got)

    return act


async def settled(es: ApiClient, case_id: str, want: list[str]) -> dict[str, Any]:
    """Spain's case page once its rows have these statuses and every message Spain sent
    is receipted (so nothing is in flight)."""

    async def ready() -> dict[str, Any] | None:
        status, case = await es.call("GET", f"/api/cases/{case_id}")
        assert status == 200, case
        rows = case["requests"]
        done = [r["status"] for r in rows] == want and all(
            r["receipts"]["held"] == r["receipts"]["sent"] for r in rows
        )
        return case if done else None

    return await wait_until(ready, what=f"the case at {want}")


async def test_done_when_over_the_api(fed4: Federation) -> None:
    es = await ApiClient(fed4["ES-CNA"]).login("investigator")
    colleague = await ApiClient(fed4["ES-CNA"]).login("colleague")
    ma = await ApiClient(fed4["MA-CNA"]).login("liaison")
    ma_investigator = await ApiClient(fed4["MA-CNA"]).login("investigator")
    sn = await ApiClient(fed4["SN-CNA"]).login("liaison")
    prd = await ApiClient(fed4["SN-PRD"]).login("liaison")
    clients = (es, colleague, ma, ma_investigator, sn, prd)
    try:
        # 1. the case on the route, one urgent H2 request to Morocco and Senegal
        status, case = await es.call("POST", "/api/cases", CASE)
        assert status == 201, case
        body = {**FORM, "to": ["MA-CNA", "SN-CNA"], "case_id": case["id"]}
        status, sent = await es.call("POST", "/api/requests", body)
        assert status == 201, sent
        assert sent["case_id"] == case["id"]
        to_ma, to_sn = sent["requests"]
        assert (to_ma["to"], to_sn["to"]) == ("MA-CNA", "SN-CNA")
        at_ma = await incoming(ma, to_ma["msg_id"])
        at_sn = await incoming(sn, to_sn["msg_id"])
        await settled(es, case["id"], ["delivered", "delivered"])

        # 2. Morocco acknowledges with its reference (not its investigator: role)
        ack = f"/api/requests/{at_ma}/messages"
        await unchanged(
            fed4,
            "MA-CNA",
            await refusal(ma_investigator, ack, {"type": "acknowledgement"}, 404, "not_found"),
        )
        await unchanged(
            fed4,
            "MA-CNA",
            await refusal(
                ma_investigator, f"/api/requests/{at_ma}/acknowledge", {}, 403, "forbidden"
            ),
        )
        got = await say(ma, at_ma, type="acknowledgement", reference="MA-DGSN-2026-117")
        assert got["status"] == "acknowledged"
        asked = await say(ma, at_ma, type="clarification_request", body="Which boat name?")
        assert asked["status"] == "awaiting_clarification"
        await until_status(es, to_ma["id"], "awaiting_clarification")
        assert (await say(es, to_ma["id"], type="clarification", body="The Nour II."))[
            "status"
        ] == "acknowledged"
        await until_status(ma, at_ma, "acknowledged")

        # 3. a partial, then a final response
        await say(ma, at_ma, type="partial_response", body="The owner lives in Larache.")
        await until_status(es, to_ma["id"], "partially_answered")
        h1 = {"code": "H1", "use_limitation": True, "confidential": True}
        await say(ma, at_ma, type="response", body="That is all we hold.", handling=h1)
        answered = await until_status(es, to_ma["id"], "answered")
        assert answered["messages"][-1]["content"]["handling"] == h1

        # 4. Senegal's central authority transfers its copy to the prosecutor's office
        moved = await say(sn, at_sn, type="transfer", to="SN-PRD", body="Competent: Dakar.")
        assert moved["status"] == "transferred"
        held = await until_status(es, to_sn["id"], "transferred")
        assert held["counterpart"] == "SN-PRD"
        at_prd = await incoming(prd, to_sn["msg_id"])
        page = await settled(es, case["id"], ["answered", "transferred"])

        # wrong party or wrong side, after all that: refused, nothing changes
        answer = {"type": "response", "body": "Late."}
        sn_path = f"/api/requests/{at_sn}/messages"
        await unchanged(fed4, "SN-CNA", await refusal(sn, sn_path, answer, 409, "conflict"))
        ref = {"origin": "ES-CNA", "msg_id": to_sn["msg_id"]}
        late = message(fed4, "SN-CNA", "ES-CNA", "response", ref, 1)
        await unchanged(
            fed4,
            "ES-CNA",
            lambda: refused(fed4, "SN-CNA", "ES-CNA", late, "wrong_party", 403),
        )
        withdraw = {"type": "withdrawal", "body": "Solved."}
        await unchanged(
            fed4,
            "MA-CNA",
            await refusal(ma, ack, withdraw, 422, "invalid_request"),
        )
        for client, request_id in ((colleague, to_ma["id"]), (es, case["id"]), (es, at_ma)):
            path = f"/api/requests/{request_id}/messages"
            await unchanged(fed4, "ES-CNA", await refusal(client, path, withdraw, 404, "not_found"))
        await unchanged(
            fed4,
            "ES-CNA",
            await refusal(
                colleague, "/api/requests", {**body, "to": ["MA-CNA"]}, 404, "unknown_case"
            ),
        )
        status, at_prd_view = await prd.call("GET", f"/api/requests/{at_prd}")
        assert (status, at_prd_view["origin"]) == (200, "ES-CNA")

        # 5. Spain's case page: each recipient's status, both references, H2, receipts
        assert (page["title"], page["reference"]) == (CASE["title"], CASE["reference"])
        assert [stop["country"] for stop in page["route"]] == ["SN", "MA", "ES"]
        morocco, senegal = page["requests"]
        assert (morocco["counterpart"], morocco["status"]) == ("MA-CNA", "answered")
        assert (senegal["counterpart"], senegal["status"]) == ("SN-PRD", "transferred")
        for row in (morocco, senegal):
            assert row["sender_reference"] == FORM["reference"]
            assert row["handling"] == H2
            assert row["urgency"] == "urgent"
            assert row["receipt"] == "held"
            assert row["group_id"] == sent["group_id"]
        assert morocco["recipient_reference"] == "MA-DGSN-2026-117"
        assert morocco["last_message"]["type"] == "response"
        assert morocco["receipts"] == {"held": 2, "sent": 2}  # the request, the clarification
        assert senegal["last_message"]["type"] == "transfer"
        assert senegal["receipts"] == {"held": 1, "sent": 1}
        # every receipt is there, signed, on each of Spain's messages
        for row in (morocco, senegal):
            status, one = await es.call("GET", f"/api/requests/{row['id']}")
            ours = [m for m in one["messages"] if m["sender"] == "ES-CNA"]
            assert ours and all(m["receipt"] for m in ours)
    finally:
        for client in clients:
            await client.close()


async def test_the_messages_route_takes_what_its_aliases_take(fed4: Federation) -> None:
    """``/messages`` carries the acknowledgement's reference and a response's conditions
    as ``/acknowledge`` and ``/responses`` do (before: 400 malformed, unknown field)."""
    es = await ApiClient(fed4["ES-CNA"]).login("investigator")
    ma = await ApiClient(fed4["MA-CNA"]).login("liaison")
    try:
        status, sent = await es.call("POST", "/api/requests", {**FORM, "to": "MA-CNA"})
        assert status == 201, sent
        at_ma = await incoming(ma, sent["msg_id"])
        await say(ma, at_ma, type="acknowledgement", reference="MA-DGSN-2026-118")
        h0 = {"code": "H0", "use_limitation": False, "confidential": False}
        await say(ma, at_ma, type="partial_response", body="Part.", handling=h0)
        seen = await until_status(es, sent["id"], "partially_answered")
        assert seen["recipient_reference"] == "MA-DGSN-2026-118"
        assert seen["messages"][-1]["content"]["handling"] == h0
    finally:
        await es.close()
        await ma.close()
