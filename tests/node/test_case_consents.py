"""Consent requests on the case page (issue 16, item 4): each side's case lists every
consent request about its requests, both directions, with who asked whom, for what,
what it concerns, when, and the answer (pending, granted, refused), between real
nodes, in the API and on the page."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from ..federation import ApiClient, Federation, wait_until
from .test_case_sharing import CASE
from .test_conversation import FORM, incoming, say, until_status


@pytest.fixture
async def fed(tmp_path: Path) -> AsyncIterator[Federation]:
    fed = Federation.create(tmp_path, ["ES-CNA", "MA-CNA"])
    await fed.start()
    yield fed
    await fed.stop()


def summary(view: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    return [
        (c["asked_by"], c["asked_of"], c["purpose"], c["concerns"], c["answer"])
        for c in view["consents"]
    ]


async def consent_ids(client: ApiClient, request_id: str) -> list[str]:
    _, got = await client.call("GET", f"/api/requests/{request_id}")
    return [m["msg_id"] for m in got["messages"] if m["type"] == "consent_request"]


async def test_both_sides_case_pages_list_the_consent_requests(fed: Federation) -> None:
    es = await ApiClient(fed["ES-CNA"]).login("investigator")
    ma = await ApiClient(fed["MA-CNA"]).login("liaison")
    try:
        _, case = await es.call("POST", "/api/cases", CASE)
        body = {"to": "MA-CNA", **FORM, "case_id": case["id"]}
        status, created = await es.call("POST", "/api/requests", body)
        assert status == 201, created
        rid, at_ma = created["id"], await incoming(ma, created["msg_id"])
        await say(ma, at_ma, type="acknowledgement")
        # Morocco asks to pass the request on: pending at both sides
        await say(ma, at_ma, type="consent_request", purpose="disclosure", body="To Interpol?")
        await wait_until(lambda: consent_ids(es, rid), what="MA's consent request at ES")
        _, view = await es.call("GET", f"/api/cases/{case['id']}")
        assert summary(view) == [("MA-CNA", "ES-CNA", "disclosure", "request", "pending")]
        assert view["consents"][0]["request_id"] == rid
        assert view["consents"][0]["answered_at"] is None
        # Morocco answers; Spain asks to use the answer in other proceedings
        await say(ma, at_ma, type="response", body="The owner lives in Larache.")
        await until_status(es, rid, "answered")
        await say(es, rid, type="consent_request", purpose="use", body="For the trial in Cadiz")
        (theirs,) = [i for i in await consent_ids(es, rid) if i != view["consents"][0]["msg_id"]]
        mine = view["consents"][0]["msg_id"]
        await say(es, rid, type="consent", about=mine, granted=False, body="Not yet.")

        async def asked_at_ma() -> list[str]:
            return [i for i in await consent_ids(ma, at_ma) if i == theirs]

        await wait_until(asked_at_ma, what="ES's consent request at MA")
        await say(ma, at_ma, type="consent", about=theirs, granted=True)
        want = [
            ("MA-CNA", "ES-CNA", "disclosure", "request", "refused"),
            ("ES-CNA", "MA-CNA", "use", "answers", "granted"),
        ]

        async def es_sees() -> bool:
            _, view = await es.call("GET", f"/api/cases/{case['id']}")
            return summary(view) == want

        await wait_until(es_sees, what="both answers at ES")
        _, page = await ma.call("GET", "/api/cases")
        (copy,) = page["cases"]
        _, ma_view = await ma.call("GET", f"/api/cases/{copy['id']}")
        assert summary(ma_view) == want
        assert all(c["answered_at"] for c in ma_view["consents"])
        # and on the page, in French
        status, html = await es.call(
            "GET", f"/cases/{case['id']}", headers={"Accept-Language": "fr"}
        )
        assert status == 200
        text = html.decode()
        assert 'id="consents"' in text and "Demandes de consentement" in text
        assert "Refusé" in text and "Accordé" in text and "Les réponses" in text
    finally:
        await es.close()
        await ma.close()
