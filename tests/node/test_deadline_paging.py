"""The deadlines, the escalation alerts and the witness alerts page through every row on
real nodes, as the lists of requests do: more rows than the old fixed limits (500
deadlines, 200 alerts of each kind), each once, in the documented order, with the
filters kept from page to page, in the JSON API and on the pages; the audit bundle holds
every witness alert; a cursor altered or brought from another list is refused."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from exchange.core.canonical import format_time
from exchange.core.clock import ManualClock
from exchange.core.deadlines import OPEN_STATES, state_at, time_left
from exchange.service import deadlines, requests
from exchange.service.forms import RequestForm
from exchange.store import inbound, witness
from exchange.store import requests as request_store
from exchange.store.db import fetch_all
from exchange.store.deadlines import facts_of

from ..federation import ApiClient, Federation, Member
from ..store.request_rows import arrival, issue, reply
from ..ui.test_page_security import Browser
from .test_paging import _ids, _link

T0 = datetime.now(UTC).replace(microsecond=0)
H = timedelta(hours=1)
STATES = {"on_track", "due_soon", "overdue", "met", "missed"}


@pytest.fixture
async def fed(tmp_path: Path) -> AsyncIterator[Federation]:
    fed = Federation.create(tmp_path, ["ES-CNA", "MA-CNA"], clock=ManualClock(T0))
    await fed.start()
    yield fed
    await fed.stop()


async def _track(member: Member, count: int) -> None:
    """``count`` requests in the member's inbox from ES-CNA and PT-PJ, stored as accepted
    envelopes are: created two days ago, due from 30 hours ago to 70 hours ahead
    (overdue, due soon, on track), one in eleven without a deadline; one in six answered
    or rejected an hour ago (met, or missed)."""
    node = member.node
    now = node.clock.now()
    arrivals = [
        arrival(
            sender=("ES-CNA", "PT-PJ")[i % 2],
            urgency=("urgent", "emergency", "standard")[i % 3],
            created_at=now - 48 * H + timedelta(seconds=i),
            deadline=None if i % 11 == 5 else now + timedelta(minutes=i * 37 % 6000 - 1800),
        )
        for i in range(count)
    ]
    await node.db.run(
        lambda c: inbound.receive_all(
            c, node.vault, me=node.me, arrivals=arrivals, now=now, issue=issue
        )
    )
    answered = [a for i, a in enumerate(arrivals) if i % 6 == 1]
    await _answer(member, [a.new_request_id for a in answered], now - H)


async def _answer(member: Member, request_ids: list[str], at: datetime) -> None:
    node = member.node

    def write(c: Any) -> None:
        for i, request_id in enumerate(request_ids):
            kind = ("response", "rejection")[i % 2]
            row = fetch_all(c, "SELECT counterpart FROM requests WHERE id = ?", (request_id,))
            message = reply(kind, to=row[0]["counterpart"], at=at)
            request_store.add_follow_up(
                c, node.vault, me=node.me, request_id=request_id, message=message,
                actor="liaison", now=at,
            )  # fmt: skip

    await node.db.run(write)


async def _judged(member: Member) -> list[dict[str, Any]]:
    """Every tracked request judged now by the pure rules, in the documented order:
    open ones first, then by time left (frozen at the answer once settled), then id."""
    node = member.node
    now, policy = node.clock.now(), node.config.escalation.policy()
    found = []
    for raw in await node.db.run(lambda c: fetch_all(c, "SELECT * FROM requests")):
        if raw["deadline"] is None or raw["status"] == "expired":
            continue
        facts = facts_of(raw)
        found.append({**raw, "state": state_at(facts, policy, now).value,
                      "left": time_left(facts, now)})  # fmt: skip
    return sorted(found, key=lambda r: (r["state"] not in OPEN_STATES, r["left"], r["id"]))


async def _walk(client: ApiClient, path: str, key: str) -> list[list[dict[str, Any]]]:
    """Every page of a list, each asked for with the ``next`` of the one before."""
    pages: list[list[dict[str, Any]]] = []
    cursor = None
    for _ in range(100):
        joiner = "&" if "?" in path else "?"
        status, body = await client.call(
            "GET", path + (f"{joiner}cursor={cursor}" if cursor else "")
        )
        assert status == 200, body
        pages.append(body[key])
        cursor = body["next"]
        if cursor is None:
            return pages
    raise AssertionError("the pages never end")


def _flat(pages: list[list[dict[str, Any]]], field: str) -> list[Any]:
    return [row[field] for page in pages for row in page]


async def test_the_deadlines_page_through_every_tracked_request(fed: Federation) -> None:
    ma = fed["MA-CNA"]
    await _track(ma, 640)
    expected = await _judged(ma)
    assert len(expected) > 500 and {r["state"] for r in expected} == STATES
    liaison = await ApiClient(ma).login("liaison")
    try:
        status, first = await liaison.call("GET", "/api/deadlines")
        assert status == 200 and set(first) == {"now", "deadlines", "next"}
        assert len(first["deadlines"]) == 100 and first["next"]
        pages = await _walk(liaison, "/api/deadlines?limit=150", "deadlines")
        assert [len(page) for page in pages] == [150, 150, 150, len(expected) - 450]
        assert _flat(pages, "request_id") == [r["id"] for r in expected]
        assert _flat(pages, "state") == [r["state"] for r in expected]
        for path, keeps in (
            (
                "/api/deadlines?state=due_soon&urgency=urgent&peer=ES-CNA&limit=4",
                lambda r: (
                    (r["state"], r["urgency"], r["counterpart"]) == ("due_soon", "urgent", "ES-CNA")
                ),
            ),
            ("/api/deadlines?state=missed&limit=10", lambda r: r["state"] == "missed"),
            (
                "/api/deadlines?state=on_track&urgency=emergency&limit=20",
                lambda r: (r["state"], r["urgency"]) == ("on_track", "emergency"),
            ),
        ):
            pages = await _walk(liaison, path, "deadlines")
            wanted = [r["id"] for r in expected if keeps(r)]
            assert _flat(pages, "request_id") == wanted and len(pages) > 2, path
    finally:
        await liaison.close()


async def test_an_investigator_pages_through_their_own_deadlines_only(fed: Federation) -> None:
    node = fed["ES-CNA"].node
    now = node.clock.now()
    form = {"to": "MA-CNA", "kind": "information_request", "urgency": "urgent",
            "subject": "Vessel", "body": "Who owns the vessel?", "language": "en"}  # fmt: skip
    await asyncio.gather(
        *(
            requests.create(
                node,
                actor=("investigator", "colleague", "colleague")[i % 3],
                form=RequestForm(**form, deadline=format_time(now + timedelta(hours=i % 40 + 1))),
            )
            for i in range(120)
        )
    )
    assert isinstance(fed.clock, ManualClock)
    fed.clock.set(now + 10 * H)  # the first ten hours' overdue, the next three's due soon
    expected = await _judged(fed["ES-CNA"])
    own = [r for r in expected if r["created_by"] == "investigator"]
    assert len(own) == 40 and len(expected) == 120
    investigator = await ApiClient(fed["ES-CNA"]).login("investigator")
    liaison = await ApiClient(fed["ES-CNA"]).login("liaison")
    try:
        mine = await _walk(investigator, "/api/deadlines?limit=7", "deadlines")
        everyone = await _walk(liaison, "/api/deadlines?limit=500", "deadlines")
        soon = await _walk(investigator, "/api/deadlines?state=due_soon&limit=1", "deadlines")
    finally:
        await investigator.close()
        await liaison.close()
    assert len(mine) == 6 and _flat(mine, "request_id") == [r["id"] for r in own]
    assert _flat(everyone, "request_id") == [r["id"] for r in expected]
    wanted = [r["id"] for r in own if r["state"] == "due_soon"]
    assert _flat(soon, "request_id") == wanted and len(soon) == len(wanted) > 2
    assert {r["state"] for r in own} == {"overdue", "due_soon", "on_track"}


async def _escalations(member: Member) -> list[dict[str, Any]]:
    """Every escalation, newest first, with whether its request is still open."""
    rows = await member.node.db.run(
        lambda c: fetch_all(
            c,
            "SELECT e.id, e.request_id, r.answered_at IS NULL AND r.rejected_at IS NULL"
            " AND r.status != 'expired' AS open FROM deadline_escalations e"
            " JOIN requests r ON r.id = e.request_id ORDER BY e.id DESC",
        )
    )
    return rows


async def test_the_alerts_page_through_every_escalation(fed: Federation) -> None:
    ma = fed["MA-CNA"]
    await _track(ma, 640)
    await deadlines.sweep(ma.node, ma.node.clock.now())
    escalated = await _escalations(ma)
    settle = list(dict.fromkeys(r["request_id"] for r in escalated if r["open"]))[:40]
    await _answer(ma, settle, ma.node.clock.now())  # their alerts leave the open list
    escalated = await _escalations(ma)
    still_open = [r for r in escalated if r["open"]]
    assert len(still_open) > 200 and len(still_open) < len(escalated)
    liaison = await ApiClient(ma).login("liaison")
    browser = Browser(ma)
    try:
        pages = await _walk(liaison, "/api/alerts?limit=100", "alerts")
        assert len(pages) > 2 and _flat(pages, "id") == [r["id"] for r in still_open]
        pages = await _walk(liaison, "/api/alerts?all=1", "alerts")
        assert _flat(pages, "id") == [r["id"] for r in escalated]
        await browser.login("liaison")
        shown = await _follow_pages(browser, "/alerts", 100)
        assert shown == [r["request_id"] for r in still_open]
    finally:
        await liaison.close()
        await browser.close()


async def _follow_pages(
    browser: Browser,
    path: str,
    size: int,
    rows: Callable[[str], list[str]] = _ids,
    kept: tuple[str, ...] = (),
) -> list[str]:
    """The rows of every page, following the "next page" links: each page full but the
    last, past the first a link back to the first, the filters kept."""
    shown: list[str] = []
    following: str | None = path
    while following is not None:
        status, page, _ = await browser.get(following)
        assert status == 200, page
        assert ("First page" in page) == bool(shown), following
        found = rows(page)
        shown += found
        following = _link(page)
        assert following is None or len(found) == size
        assert following is None or all(f in following for f in kept), following
    return shown


async def test_the_deadlines_page_links_to_the_following_rows(fed: Federation) -> None:
    ma = fed["MA-CNA"]
    await _track(ma, 640)
    expected = await _judged(ma)
    browser = Browser(ma)
    try:
        await browser.login("liaison")
        shown = await _follow_pages(browser, "/deadlines", 100)
        assert shown == [r["id"] for r in expected]
        path = "/deadlines?state=on_track&peer=ES-CNA"
        shown = await _follow_pages(browser, path, 100, kept=("state=on_track", "peer=ES-CNA"))
        wanted = [
            r["id"] for r in expected if (r["state"], r["counterpart"]) == ("on_track", "ES-CNA")
        ]
        assert shown == wanted and len(wanted) > 100
    finally:
        await browser.close()


async def test_every_witness_alert_is_listed_and_in_the_bundle(fed: Federation) -> None:
    node = fed["ES-CNA"].node

    def write(c: Any) -> None:
        for i in range(450):
            witness.raise_alert(
                c, me=node.me, peer=("MA-CNA", "PT-PJ")[i % 2], kind=("fork", "shrunk")[i % 3 // 2],
                detail=f"alert-{i}", evidence={"previous": "a", "presented": "b"},
                now=node.clock.now(),
            )  # fmt: skip

    await node.db.run(write)
    newest_first = [f"alert-{i}" for i in reversed(range(450))]
    auditor = await ApiClient(fed["ES-CNA"]).login("auditor")
    admin = await ApiClient(fed["ES-CNA"]).login("admin")
    browser = Browser(fed["ES-CNA"])
    try:
        status, bundle = await auditor.call("GET", "/api/audit/bundle")
        assert status == 200 and [a["detail"] for a in bundle["witness_alerts"]] == newest_first
        pages = await _walk(auditor, "/api/audit/alerts?limit=100", "alerts")
        assert [len(p) for p in pages] == [100, 100, 100, 100, 50]
        assert _flat(pages, "detail") == newest_first
        assert _flat(await _walk(admin, "/api/audit/alerts", "alerts"), "detail") == newest_first
        await browser.login("auditor")
        shown = await _follow_pages(
            browser, "/audit", 100, rows=lambda page: re.findall(r" · (alert-\d+) · ", page)
        )
        assert shown == newest_first
    finally:
        await auditor.close()
        await admin.close()
        await browser.close()


async def test_an_altered_cursor_or_one_of_another_list_is_malformed(fed: Federation) -> None:
    ma = fed["MA-CNA"]
    node = ma.node
    await _track(ma, 60)
    await deadlines.sweep(node, node.clock.now())

    def write(c: Any) -> None:
        for i in range(3):
            witness.raise_alert(c, me=node.me, peer="ES-CNA", kind="fork", detail=f"alert-{i}",
                                evidence={}, now=node.clock.now())  # fmt: skip

    await node.db.run(write)
    liaison = await ApiClient(ma).login("liaison")
    auditor = await ApiClient(ma).login("auditor")
    try:
        tokens = {}
        for client, path in (
            (liaison, "/api/deadlines"),
            (liaison, "/api/alerts"),
            (liaison, "/api/inbox"),
            (auditor, "/api/audit/alerts"),
        ):
            status, body = await client.call("GET", f"{path}?limit=2")
            assert status == 200 and body["next"], body
            tokens[path] = body["next"]
            status, _ = await client.call("GET", f"{path}?limit=2&cursor={body['next']}")
            assert status == 200
        for client, path in (
            (liaison, "/api/deadlines"),
            (liaison, "/api/alerts"),
            (auditor, "/api/audit/alerts"),
        ):
            token = tokens[path]
            others = [t for p, t in tokens.items() if p != path]
            for query in (
                f"cursor=A{token[1:]}",
                f"cursor={token[:-3]}",
                f"cursor={token}x",
                f"cursor={token}%00",
                *(f"cursor={other}" for other in others),
                "limit=0",
                "limit=ten",
                "limit=-1",
            ):
                status, body = await client.call("GET", f"{path}?{query}")
                assert (status, body["error"]["code"]) == (400, "malformed"), (path, query)
        browser = Browser(ma)
        try:
            await browser.login("liaison")
            for page in ("/deadlines", "/alerts"):
                status, text, _ = await browser.get(f"{page}?cursor={tokens['/api/inbox']}")
                assert status == 400 and "cursor" in text, page
        finally:
            await browser.close()
        browser = Browser(ma)
        try:
            await browser.login("auditor")
            status, text, _ = await browser.get(f"/audit?cursor={tokens['/api/alerts']}")
            assert status == 400 and "cursor" in text
        finally:
            await browser.close()
    finally:
        await liaison.close()
        await auditor.close()
