"""Spontaneous information (UNTOC art. 18(4), issue 16 item 6) over the API, on real
nodes: sent to several authorities without a request, it takes no deadline, its
recipients may acknowledge it (with their reference) and ask consent about it but not
answer it, its case closes while it is only delivered, and lists filter by kind."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from exchange.core.canonical import format_time

from ..federation import ApiClient, Federation, wait_until

FORM = {
    "to": ["MA-CNA", "SN-CNA"],
    "kind": "spontaneous_information",
    "urgency": "urgent",
    "subject": "A boat leaves Dakhla tonight",
    "body": "Thirty people, a blue cayuco.",
    "language": "en",
    "handling": {"code": "H2", "use_limitation": True, "confidential": True},
}


@pytest.fixture
async def fed(tmp_path: Path) -> AsyncIterator[Federation]:
    fed = Federation.create(tmp_path, ["ES-CNA", "MA-CNA", "SN-CNA"])
    await fed.start()
    yield fed
    await fed.stop()


async def test_spontaneous_information_awaits_no_answer(fed: Federation) -> None:
    es = await ApiClient(fed["ES-CNA"]).login("investigator")
    ma = await ApiClient(fed["MA-CNA"]).login("liaison")
    try:
        body = {**FORM, "deadline": format_time(fed.clock.now() + timedelta(days=3))}
        status, refused = await es.call("POST", "/api/requests", body)
        assert (status, refused["error"]["code"]) == (400, "malformed"), refused
        assert refused["error"]["message"].startswith("deadline")
        draft = {**body, "to": "MA-CNA"}
        status, refused = await es.call("POST", "/api/drafts", draft)
        assert (status, refused["error"]["code"]) == (400, "malformed"), refused
        _, board = await es.call("GET", "/api/requests")
        assert board["requests"] == []

        status, sent = await es.call("POST", "/api/requests", FORM)
        assert status == 201, sent
        assert [r["to"] for r in sent["requests"]] == ["MA-CNA", "SN-CNA"]
        first = sent["requests"][0]
        _, mine = await es.call("GET", f"/api/requests/{first['id']}")
        assert mine["kind"] == "spontaneous_information" and mine["deadline"] is None

        async def delivered() -> bool:
            _, view = await es.call("GET", f"/api/cases/{sent['case_id']}")
            return all(r["status"] == "delivered" for r in view["requests"])

        await wait_until(delivered, what="both receipts back at ES")
        _, deadlines = await es.call("GET", "/api/deadlines")
        assert deadlines["deadlines"] == []

        _, inbox = await ma.call("GET", "/api/inbox")
        (received,) = inbox["requests"]
        assert received["kind"] == "spontaneous_information" and received["deadline"] is None
        path = f"/api/requests/{received['id']}/messages"
        for msg_type in ("response", "partial_response", "clarification_request"):
            status, no = await ma.call("POST", path, {"type": msg_type, "body": "x"})
            assert (status, no["error"]["code"]) == (422, "invalid_request"), no
        status, no = await ma.call("POST", path, {"type": "transfer", "body": "x", "to": "SN-CNA"})
        assert (status, no["error"]["code"]) == (422, "invalid_request"), no
        acknowledge = f"/api/requests/{received['id']}/acknowledge"
        status, done = await ma.call("POST", acknowledge, {"reference": "DGSN-77/2026"})
        assert status == 200, done
        ask = {"type": "consent_request", "body": "May we pass it on?", "purpose": "use"}
        status, done = await ma.call("POST", path, ask)
        assert status == 200, done

        # nothing in the case awaits an answer: it closes
        status, closed = await es.call("POST", f"/api/cases/{sent['case_id']}/close")
        assert (status, closed["status"]) == (200, "closed"), closed

        # the list filters by kind
        request = {**FORM, "to": "MA-CNA", "kind": "information_request"}
        status, other = await es.call("POST", "/api/requests", request)
        assert status == 201, other
        _, listed = await es.call("GET", "/api/requests?kind=spontaneous_information")
        assert {r["id"] for r in listed["requests"]} == {r["id"] for r in sent["requests"]}
        _, listed = await es.call("GET", "/api/requests?kind=information_request")
        assert [r["id"] for r in listed["requests"]] == [other["id"]]
        status, refused = await es.call("GET", "/api/requests?kind=gossip")
        assert (status, refused["error"]["code"]) == (400, "malformed")
    finally:
        await es.close()
        await ma.close()
