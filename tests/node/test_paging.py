"""Long lists page through every row, on real nodes: the inbox nearest deadline first
(the most overdue at the top of the first page), an investigator's requests however
many newer ones colleagues sent, the board's filters; the cursor is refused when altered
or brought from another list."""

from __future__ import annotations

import asyncio
import html
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from exchange.core.canonical import format_time
from exchange.service import drafts, requests
from exchange.service.forms import RequestForm
from exchange.store import inbound as store

from ..federation import ApiClient, Federation, Member
from ..store.request_rows import arrival, issue
from ..ui.test_page_security import Browser

FORM = {
    "to": "MA-CNA",
    "kind": "information_request",
    "urgency": "standard",
    "subject": "Vessel",
    "body": "Who owns the vessel?",
    "language": "en",
}


@pytest.fixture
async def fed(tmp_path: Path) -> AsyncIterator[Federation]:
    fed = Federation.create(tmp_path, ["ES-CNA", "MA-CNA"])
    await fed.start()
    yield fed
    await fed.stop()


async def _receive(member: Member, count: int) -> list[dict[str, Any]]:
    """``count`` requests in the member's inbox, stored as accepted envelopes are, from
    ES-CNA and from PT-PJ (not in the directory). Created 20 to 14 days ago, three at a
    time; due a day or two later (overdue, the oldest most) or in 30 days, the three
    of a time alike; one in seven without a deadline. Returned in the inbox's order."""
    node = member.node
    now = node.clock.now()
    arrivals = []
    for i in range(count):
        created = now - timedelta(days=20) + timedelta(hours=i // 3)
        days = (1, 2, 30)[i // 3 % 3]
        arrivals.append(
            arrival(
                sender=("ES-CNA", "PT-PJ")[i % 2],
                created_at=created,
                deadline=None if i % 7 == 3 else created + timedelta(days=days),
            )
        )
    await node.db.run(
        lambda c: store.receive_all(
            c, node.vault, me=node.me, arrivals=arrivals, now=now, issue=issue
        )
    )
    rows = [
        {
            "id": a.new_request_id,
            "counterpart": a.message.sender,
            "created_at": format_time(a.message.created_at),
            "deadline": a.message.content["deadline"],
            "overdue": a.message.content["deadline"] is not None
            and a.message.content["deadline"] <= format_time(now),
        }
        for a in arrivals
    ]
    return sorted(
        rows, key=lambda r: (r["deadline"] is None, r["deadline"] or "", r["created_at"], r["id"])
    )


async def _pages(client: ApiClient, path: str) -> list[list[dict[str, Any]]]:
    """Every page of a list, each asked for with the ``next`` of the one before."""
    pages: list[list[dict[str, Any]]] = []
    cursor = None
    for _ in range(100):
        joiner = "&" if "?" in path else "?"
        status, body = await client.call(
            "GET", path + (f"{joiner}cursor={cursor}" if cursor else "")
        )
        assert status == 200, body
        pages.append(body["requests"])
        cursor = body.get("next")  # .get: a list that is not paged has none
        if cursor is None:
            return pages
    raise AssertionError("the pages never end")


async def test_the_inbox_pages_through_every_request_nearest_deadline_first(
    fed: Federation,
) -> None:
    expected = await _receive(fed["MA-CNA"], 450)
    liaison = await ApiClient(fed["MA-CNA"]).login("liaison")
    try:
        pages = await _pages(liaison, "/api/inbox")
    finally:
        await liaison.close()
    assert [len(page) for page in pages] == [100, 100, 100, 100, 50]
    listed = [row["id"] for page in pages for row in page]
    assert listed == [row["id"] for row in expected]  # each once, in order across pages
    first = pages[0][0]
    assert first["deadline"] == min(r["deadline"] for r in expected if r["deadline"])
    assert first["deadline_state"] == "overdue"
    assert all(row["deadline"] is None for row in pages[-1][-30:])  # those without, last


async def test_an_investigator_sees_all_their_requests_behind_newer_ones(
    fed: Federation,
) -> None:
    node = fed["ES-CNA"].node
    own = await asyncio.gather(
        *(requests.create(node, actor="investigator", form=RequestForm(**FORM)) for _ in range(30))
    )
    theirs = await asyncio.gather(
        *(requests.create(node, actor="colleague", form=RequestForm(**FORM)) for _ in range(250))
    )
    form = RequestForm(**FORM)
    draft = await drafts.save(node, actor="investigator", form=form)
    await drafts.save(
        node, actor="colleague", form=RequestForm(**FORM)
    )  # listed to its author only
    investigator = await ApiClient(fed["ES-CNA"]).login("investigator")
    liaison = await ApiClient(fed["ES-CNA"]).login("liaison")
    try:
        mine = await _pages(investigator, "/api/requests?limit=7")
        also_mine = await _pages(investigator, "/api/requests?direction=in")
        everyone = await _pages(liaison, "/api/requests")
    finally:
        await investigator.close()
        await liaison.close()
    rows = [row for page in mine for row in page]
    assert len(mine) == 5 and len(rows) == 31
    assert sorted(r["id"] for r in rows) == sorted([draft.id, *(r.id for r in own)])
    keys = [(r["created_at"], r["id"]) for r in rows]
    assert keys == sorted(keys, reverse=True)  # newest first, across pages
    assert [r["id"] for page in also_mine for r in page] == [r["id"] for r in rows]
    seen = [row["id"] for page in everyone for row in page]
    assert sorted(seen) == sorted(r.id for r in [*own, *theirs])  # no one's drafts


async def test_an_altered_cursor_or_one_of_another_list_is_malformed(fed: Federation) -> None:
    await _receive(fed["MA-CNA"], 120)
    liaison = await ApiClient(fed["MA-CNA"]).login("liaison")
    try:
        _, inbox = await liaison.call("GET", "/api/inbox?limit=50")
        _, listed = await liaison.call("GET", "/api/requests?limit=50")
        token, other = inbox["next"], listed["next"]
        status, _ = await liaison.call("GET", f"/api/inbox?cursor={token}")
        assert status == 200
        for path in (
            f"/api/inbox?cursor=A{token[1:]}",
            f"/api/inbox?cursor={token[:-3]}",
            f"/api/inbox?cursor={token}x",
            f"/api/inbox?cursor={token}%00",
            f"/api/inbox?cursor={other}",
            f"/api/requests?cursor={token}",
            "/api/inbox?limit=0",
            "/api/inbox?limit=ten",
            "/api/requests?limit=-1",
        ):
            status, body = await liaison.call("GET", path)
            assert (status, body["error"]["code"]) == (400, "malformed"), path
        browser = Browser(fed["MA-CNA"])
        try:
            await browser.login("liaison")
            status, page, _ = await browser.get(f"/inbox?cursor=A{token[1:]}")
            assert status == 400 and "cursor" in page
        finally:
            await browser.close()
    finally:
        await liaison.close()


def _ids(page: str) -> list[str]:
    return re.findall(r'<a href="/requests/([^"?]+)">', page)


def _link(page: str) -> str | None:
    """The next page's link, if any."""
    found = re.search(r'<a href="([^"]+)" rel="next">', page)
    return html.unescape(found.group(1)) if found else None


async def test_the_inbox_page_links_to_the_following_rows(fed: Federation) -> None:
    expected = [row["id"] for row in await _receive(fed["MA-CNA"], 230)]
    browser = Browser(fed["MA-CNA"])
    try:
        await browser.login("liaison")
        status, first, _ = await browser.get("/inbox")
        assert status == 200 and _ids(first) == expected[:100]
        following = _link(first)
        assert following is not None and following.startswith("/inbox?cursor=")
        status, second, _ = await browser.get(following)
        assert status == 200 and _ids(second) == expected[100:200]
        assert '<a href="/inbox">First page</a>' in second
        assert "First page" not in first
        following = _link(second)
        assert following is not None
        _, third, _ = await browser.get(following)
        assert _ids(third) == expected[200:] and _link(third) is None
    finally:
        await browser.close()


async def test_the_board_pages_through_its_filters(fed: Federation) -> None:
    rows = await _receive(fed["MA-CNA"], 450)
    wanted = [r for r in rows if r["overdue"] and r["counterpart"] == "ES-CNA"]
    wanted.sort(key=lambda r: (r["created_at"], r["id"]), reverse=True)
    browser = Browser(fed["MA-CNA"])
    try:
        await browser.login("liaison")
        shown: list[str] = []
        path: str | None = "/requests?direction=in&country=es&overdue=1"
        while path is not None:
            status, page, _ = await browser.get(path)
            assert status == 200
            shown += _ids(page)
            path = _link(page)
            assert path is None or ("country=ES" in path and "overdue=1" in path), path
        assert shown == [r["id"] for r in wanted] and len(wanted) > 100
        _, page, _ = await browser.get("/requests?country=PT")  # PT-PJ is in no directory
        assert _ids(page) == []
        _, page, _ = await browser.get("/requests?peer=PT-PJ&status=received&urgency=urgent")
        assert len(_ids(page)) == 100 and _link(page) is not None
    finally:
        await browser.close()
