"""Search (issue 17) against the users who should not find, and against erasure.

* Whoever cannot see a request in the requests list cannot find it by search: another
  investigator's, anyone's for auditors and admins; the case board's text filter keeps
  the board's rule (investigators: the cases they opened).
* Contents erased by retention are no longer found, and their words leave the index
  in memory, whichever process erased them (the node's daily pass or `exchange
  retention run` on the data folder).
* No plaintext index on disk: the words searched never lie in the database files.
* Bad input gets a precise code and status, never a 500.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from exchange.core.clock import ManualClock
from exchange.ops.provision import add_user
from exchange.ops.retention import run_pass

from ..federation import FAST_DELIVERY, PASSWORD, ApiClient, Federation, Member, wait_until
from ..storage import stored_bytes

FORM = {
    "to": "MA-CNA",
    "kind": "information_request",
    "urgency": "standard",
    "subject": "Fishing boat from Nador",
    "body": "Who owns the vessel Almirante seen off Cabo de Gata?",
    "language": "en",
    "reference": "UCRIF-AL-2026-0042",
}
RETENTION = "\n[retention]\nopen_days = 3\n"


@pytest.fixture
async def fed(tmp_path: Path) -> AsyncIterator[Federation]:
    fed = Federation.create(tmp_path, ["ES-CNA", "MA-CNA"], extra_config=FAST_DELIVERY)
    add_user(fed["ES-CNA"].data, username="colleague", password=PASSWORD, role="investigator")
    await fed.start()
    yield fed
    await fed.stop()


async def search(client: ApiClient, q: str, **more: str) -> tuple[int, Any]:
    return await client.call("GET", "/api/search?" + urlencode({"q": q, **more}))


async def found(client: ApiClient, q: str) -> list[str]:
    status, page = await search(client, q)
    assert status == 200, page
    return [r["id"] for r in page["requests"]]


async def ready(member: Member) -> None:
    await wait_until(lambda: member.node.search.ready, what="the search index built")


async def test_search_finds_by_reference_subject_body_and_authority_page_by_page(
    fed: Federation,
) -> None:
    es, ma = fed["ES-CNA"], fed["MA-CNA"]
    await ready(es)
    client = await ApiClient(es).login("investigator")
    liaison = await ApiClient(ma).login("liaison")
    try:
        made = []
        for n in range(3):
            form = {**FORM, "reference": f"UCRIF-AL-2026-004{n}"}
            status, body = await client.call("POST", "/api/requests", form)
            assert status == 201, body
            made.append(body["id"])
        newest_first = made[::-1]
        assert await found(client, "nador") == newest_first  # subject, folded
        assert await found(client, "ALMIRANTE gata") == newest_first  # body, every word
        assert await found(client, "UCRIF-AL-2026-0041") == [made[1]]  # a reference
        assert await found(client, "ma-cna") == newest_first  # the authority
        assert await found(client, "nador tangier") == []  # every word, not any
        # page by page with the list's cursors, nothing skipped or repeated
        seen, cursor = [], None
        while True:
            more = {"limit": "1", **({"cursor": cursor} if cursor else {})}
            status, page = await search(client, "nádor", **more)
            assert status == 200, page
            seen += [r["id"] for r in page["requests"]]
            if (cursor := page["next"]) is None:
                break
        assert seen == newest_first
        # the receiving node finds the received requests, by its own index
        await wait_until(lambda: ma.node.search.ready, what="MA's index")

        async def received() -> bool:
            return len(await found(liaison, "almirante")) == 3

        await wait_until(received, what="the three requests found at MA")
        # (MA keeps them under ids of its own)
        assert await found(liaison, "es-cna") == await found(liaison, "almirante")
        assert len(await found(liaison, "ucrif-al-2026-0042")) == 1
    finally:
        await client.close()
        await liaison.close()


async def test_what_a_list_hides_search_does_not_find(fed: Federation) -> None:
    es = fed["ES-CNA"]
    await ready(es)
    owner = await ApiClient(es).login("investigator")
    others = {u: await ApiClient(es).login(u) for u in ("colleague", "liaison", "auditor", "admin")}
    try:
        status, made = await owner.call("POST", "/api/requests", FORM)
        assert status == 201
        status, draft = await owner.call(
            "POST", "/api/drafts", {**FORM, "subject": "Unsent Zeebrugge"}
        )
        assert status == 201, draft
        assert await found(owner, "almirante") == [made["id"]]
        assert await found(owner, "zeebrugge") == []  # a draft is not sent: not indexed
        assert await found(others["colleague"], "almirante") == []  # another investigator's
        assert await found(others["liaison"], "almirante") == [made["id"]]  # every request
        for role in ("auditor", "admin"):
            status, body = await search(others[role], "almirante")
            assert (status, body["error"]["code"]) == (403, "forbidden"), role
        # the case board's text filter: the board's rule of who sees which case
        case = {"title": "Network Ndiaye-Moreau", "reference": "OCRIEST-77",
                "offences": ["migrant_smuggling"], "route": []}  # fmt: skip
        status, opened = await owner.call("POST", "/api/cases", case)
        assert status == 201, opened
        for who, expected in ((owner, [opened["id"]]), (others["colleague"], [])):
            status, page = await who.call("GET", "/api/cases?text=ndiaye")
            assert status == 200 and [c["id"] for c in page["cases"]] == expected, page
        status, page = await owner.call("GET", "/api/cases?text=ocriest-77&status=closed")
        assert status == 200 and page["cases"] == []  # the board's other filters hold
        status, page = await owner.call("GET", "/api/cases?text=nador")  # implicit: subject
        assert [c["id"] for c in page["cases"]] == [made["case_id"]], page
    finally:
        await owner.close()
        for client in others.values():
            await client.close()


async def test_bad_queries_and_cursors_are_refused_precisely(fed: Federation) -> None:
    es = fed["ES-CNA"]
    await ready(es)
    client = await ApiClient(es).login("liaison")
    try:
        for path in (
            "/api/search",
            "/api/search?q=",
            "/api/search?q=%20%20",
            "/api/search?q=--%2F%2F",
            "/api/search?" + urlencode({"q": "x" * 201}),
            "/api/search?" + urlencode({"q": "a b c d e f g h i"}),
            "/api/search?q=nador&cursor=bogus",
            "/api/search?q=nador&limit=0",
            "/api/cases?text=",
            "/api/cases?text=nador&cursor=bogus",
        ):
            status, body = await client.call("GET", path)
            assert (status, body["error"]["code"]) == (400, "malformed"), (path, body)
        # a cursor of another list (the inbox) is not a position in this one
        status, inbox = await client.call("GET", "/api/inbox?limit=1")
        assert status == 200
        if inbox["next"]:
            status, body = await search(client, "nador", cursor=inbox["next"])
            assert (status, body["error"]["code"]) == (400, "malformed")
    finally:
        await client.close()


async def test_erased_contents_are_not_found_and_leave_the_index(tmp_path: Path) -> None:
    clock = ManualClock(datetime.now(UTC).replace(microsecond=0))
    fed = Federation.create(
        tmp_path, ["ES-CNA", "MA-CNA"], clock=clock, extra_config=FAST_DELIVERY + RETENTION
    )
    fed.publish(valid=timedelta(days=60))
    await fed.start()
    es = fed["ES-CNA"]
    try:
        await ready(es)
        client = await ApiClient(es).login("investigator")
        status, made = await client.call("POST", "/api/requests", FORM)
        assert status == 201

        async def delivered() -> bool:
            _, row = await client.call("GET", f"/api/requests/{made['id']}")
            return row["delivered_at"] is not None

        await wait_until(delivered, what="the request delivered")
        assert await found(client, "almirante") == [made["id"]]
        await client.close()
        database = stored_bytes(es.data)
        assert b"lmirante" not in database and b"Nador" not in database  # nothing in clear
        assert es.node.search.requests.knows("almirante")

        clock.advance(timedelta(days=4))
        # erased by a pass the node is not told of: the next search catches up
        assert run_pass(es.node.db, es.config, clock, es.node.vault)["requests_erased"] == 1
        client = await ApiClient(es).login("investigator")
        assert await found(client, "almirante") == []
        assert await found(client, "ma-cna") == []
        status, page = await client.call("GET", "/api/cases?text=nador")
        assert status == 200 and page["cases"] == [], page
        await client.close()
        for word in ("almirante", "nador", "gata", "0042"):
            assert not es.node.search.requests.knows(word), word
            assert not es.node.search.cases.knows(word), word
    finally:
        await fed.stop()
