"""Cases on real nodes: an investigator opens a case, files requests in it; the peer
files the inbound request in a case of its own; the board lists every case a page at
a time, filtered in the query; a case closes once nothing in it awaits an answer."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from exchange.ops.provision import add_user

from ..federation import PASSWORD, ApiClient, Federation, wait_until

ROUTE = [
    {"country": "SN", "role": "origin"},
    {"country": "MA", "role": "transit"},
    {"country": "ES", "role": "destination"},
]
CASE = {
    "title": "Cayucos from Dakar",
    "reference": "UCRIF-2026/0117",
    "offences": ["migrant_smuggling"],
    "route": ROUTE,
}
FORM = {
    "to": "MA-CNA",
    "kind": "information_request",
    "urgency": "urgent",
    "subject": "Boat owner",
    "body": "Who owns the boat?",
    "language": "en",
}


@pytest.fixture
async def fed(tmp_path: Path) -> AsyncIterator[Federation]:
    fed = Federation.create(tmp_path, ["ES-CNA", "MA-CNA"])
    add_user(fed["ES-CNA"].data, username="colleague", password=PASSWORD, role="investigator")
    await fed.start()
    yield fed
    await fed.stop()


async def audit_actions(fed: Federation, authority_id: str) -> list[dict[str, Any]]:
    rows = await fed[authority_id].node.db.run(
        lambda c: c.execute("SELECT entry FROM audit_entries ORDER BY idx").fetchall()
    )
    return [json.loads(bytes(r[0])) for r in rows]


async def test_a_case_holds_its_requests_in_both_directions(fed: Federation) -> None:
    es = await ApiClient(fed["ES-CNA"]).login("investigator")
    ma = await ApiClient(fed["MA-CNA"]).login("liaison")
    try:
        status, case = await es.call("POST", "/api/cases", CASE)
        assert status == 201, case
        assert case["title"] == CASE["title"] and case["reference"] == CASE["reference"]
        assert case["route"] == ROUTE and case["status"] == "open" and not case["implicit"]
        status, sent = await es.call("POST", "/api/requests", {**FORM, "case_id": case["id"]})
        assert status == 201 and sent["case_id"] == case["id"]
        # without a case, a request opens an implicit one
        status, other = await es.call("POST", "/api/requests", {**FORM, "subject": "Fuel"})
        assert status == 201 and other["case_id"] not in (None, case["id"])

        async def delivered() -> bool:
            _, view = await es.call("GET", f"/api/cases/{case['id']}")
            return bool(view["requests"][0]["receipt"] == "held")

        await wait_until(delivered, what="the receipt back at ES")
        _, view = await es.call("GET", f"/api/cases/{case['id']}")
        (shown,) = view["requests"]
        assert shown["id"] == sent["id"] and shown["counterpart"] == "MA-CNA"
        assert shown["status"] == "delivered" and shown["deadline"]
        assert shown["direction"] == "out" and shown["deadline_state"]
        status, implicit = await es.call("GET", f"/api/cases/{other['case_id']}")
        assert status == 200 and implicit["implicit"] and implicit["title"] is None
        assert implicit["subject"] == "Fuel" and implicit["offences"] == []

        # the receiving node files the inbound request in a case of its own
        _, inbox = await ma.call("GET", "/api/inbox")
        received = next(r for r in inbox["requests"] if r["msg_id"] == sent["msg_id"])
        assert received["case_id"]
        status, there = await ma.call("GET", f"/api/cases/{received['case_id']}")
        assert status == 200 and there["implicit"] and there["created_by"] is None
        assert [(r["id"], r["direction"], r["receipt"]) for r in there["requests"]] == [
            (received["id"], "in", "issued")
        ]
        # it cannot close while the request awaits an answer; once answered it can
        status, refused = await es.call("POST", f"/api/cases/{case['id']}/close")
        assert (status, refused["error"]["code"]) == (409, "case_awaiting")
        status, _ = await ma.call(
            "POST", f"/api/requests/{received['id']}/responses", {"body": "Mr X."}
        )
        assert status == 200

        async def answered() -> bool:
            _, view = await es.call("GET", f"/api/cases/{case['id']}")
            return bool(view["requests"][0]["status"] == "answered")

        await wait_until(answered, what="the answer back at ES")
        status, closed = await es.call("POST", f"/api/cases/{case['id']}/close")
        assert (status, closed) == (200, {"id": case["id"], "status": "closed"})
        status, refused = await es.call("POST", f"/api/cases/{case['id']}/close")
        assert (status, refused["error"]["code"]) == (409, "case_closed")
        status, refused = await es.call("POST", "/api/requests", {**FORM, "case_id": case["id"]})
        assert (status, refused["error"]["code"]) == (409, "case_closed")
    finally:
        await es.close()
        await ma.close()
    entries = await audit_actions(fed, "ES-CNA")
    opened = [e for e in entries if e["action"] == "case_opened"]
    assert opened == [
        {**opened[0], "case_id": case["id"], "offences": ["migrant_smuggling"],
         "route": ["SN", "MA", "ES"]}
    ]  # fmt: skip
    assert not any(CASE["title"] in json.dumps(e) or CASE["reference"] in json.dumps(e)
                   for e in entries)  # fmt: skip
    assert {"case_viewed", "case_closed"} <= {e["action"] for e in entries}
    created = [e for e in entries if e["action"] == "request_created"]
    assert [e["case_id"] for e in created] == [case["id"], other["case_id"]]


async def _all_pages(client: ApiClient, query: str, limit: int) -> list[str]:
    seen: list[str] = []
    cursor = ""
    for _ in range(100):
        status, page = await client.call("GET", f"/api/cases?limit={limit}{query}{cursor}")
        assert status == 200, page
        assert len(page["cases"]) <= limit
        seen += [c["id"] for c in page["cases"]]
        if page["next"] is None:
            return seen
        cursor = f"&cursor={page['next']}"
    raise AssertionError("the pages never ended")


async def test_paging_never_hides_a_case_and_filters_in_the_query(fed: Federation) -> None:
    es = await ApiClient(fed["ES-CNA"]).login("investigator")
    colleague = await ApiClient(fed["ES-CNA"]).login("colleague")
    liaison = await ApiClient(fed["ES-CNA"]).login("liaison")
    try:
        mine = []
        for i in range(13):
            route = [ROUTE[i % 3]]
            status, case = await es.call(
                "POST", "/api/cases", {**CASE, "title": f"Case {i}", "route": route}
            )
            assert status == 201
            mine.append(case["id"])
            if i % 4 == 0:  # a colleague's case between mine, which I never see
                status, _ = await colleague.call("POST", "/api/cases", CASE)
                assert status == 201
        status, _ = await es.call("POST", "/api/requests", {**FORM, "case_id": mine[5]})
        assert status == 201
        await es.call("POST", f"/api/cases/{mine[7]}/close")

        assert await _all_pages(es, "", 4) == mine[::-1]
        assert len(await _all_pages(liaison, "", 5)) == 13 + 4
        assert set(await _all_pages(es, "&status=closed", 2)) == {mine[7]}
        assert len(await _all_pages(es, "&status=open", 3)) == 12
        assert await _all_pages(es, "&authority=MA-CNA", 2) == [mine[5]]
        # MA on the route (every third case), or of a counterpart (MA-CNA: mine[5])
        on_ma = {mine[i] for i in range(13) if i % 3 == 1} | {mine[5]}
        assert set(await _all_pages(es, "&country=MA", 2)) == on_ma
        assert await _all_pages(es, "&overdue=true", 2) == []
        # a cursor of another list is refused, not misread
        status, page = await es.call("GET", "/api/cases?limit=1")
        assert page["next"]
        status, refused = await es.call("GET", f"/api/requests?cursor={page['next']}")
        assert (status, refused["error"]["code"]) == (400, "malformed")
    finally:
        for client in (es, colleague, liaison):
            await client.close()
