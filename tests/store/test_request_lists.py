"""Lists a page at a time (``store.request_lists``) against a real SQLite file: followed
page after page, every filter gives exactly the rows it names, in order, once; and the
overdue filter in SQL agrees with the live state the lists show (``state_of``)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from exchange.core import ids
from exchange.core.cursor import Position
from exchange.core.deadlines import DeadlinePolicy
from exchange.core.vault import Vault, new_storage_key
from exchange.store import drafts, inbound, outbox
from exchange.store import requests as store
from exchange.store.db import fetch_all
from exchange.store.deadlines import state_of
from exchange.store.request_lists import (
    Page,
    RequestFilter,
    nearest_deadline_first,
    newest_first,
)
from exchange.store.rows import RequestRow

from ..storage import connect
from .request_rows import arrival, issue, reply, sent

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
ME = "MA-CNA"


@pytest.fixture(scope="module")
def conn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sqlite3.Connection]:
    """Received and sent requests in every state, with ties on deadline and creation
    time, and two investigators' drafts."""
    conn = connect(tmp_path_factory.mktemp("lists") / "t.db")
    vault = Vault(new_storage_key())
    deadlines = [NOW - timedelta(hours=2), NOW + timedelta(hours=5), None, NOW - timedelta(days=1)]
    arrivals = [
        arrival(
            sender=("ES-CNA", "PT-PJ", "SN-CNA")[i % 3],
            urgency=("urgent", "emergency", "standard")[i % 5 % 3],
            created_at=NOW - timedelta(days=3, minutes=i // 12),  # twelve at a time
            deadline=deadlines[i % 4],
        )
        for i in range(120)
    ]
    inbound.receive_all(
        conn, vault, me=ME, arrivals=arrivals, now=NOW - timedelta(days=3), issue=issue
    )
    for i, a in enumerate(arrivals[:60]):
        kind = ("acknowledgement", "response", "rejection", None)[i // 4 % 4]
        if kind is not None:
            at = NOW - timedelta(hours=(1, 3, 30)[i % 3])  # before or after the deadline
            message = reply(kind, to=a.message.sender, at=at)
            store.add_follow_up(
                conn, vault, me=ME, request_id=a.new_request_id, message=message,
                actor="liaison", now=at,
            )  # fmt: skip
    for i in range(40):
        at = NOW - timedelta(days=2, minutes=i // 3)
        message = sent(to=("ES-CNA", "SN-CNA")[i % 2], at=at, deadline=deadlines[i % 4])
        store.create_request(
            conn, vault, me=ME, request_id=ids.request_id(), message=message,
            actor=("inv-a", "inv-b")[i % 2], now=at,
        )  # fmt: skip
        if i % 5 == 0:
            outbox.expire(conn, me=ME, msg_id=message.msg_id, error="gone", now=at)
    for i, author in enumerate(("inv-a", "inv-b", "inv-a")):
        form = {"to": "ES-CNA", "kind": "information_request", "urgency": "urgent",
                "language": "en", "subject": "Draft", "body": "", "attachments": []}  # fmt: skip
        drafts.keep_draft(
            conn, vault, me=ME, request_id=ids.request_id(), form=form, actor=author,
            now=NOW - timedelta(days=1, minutes=i),
        )  # fmt: skip
    yield conn
    conn.close()


def _all(conn: sqlite3.Connection) -> list[RequestRow]:
    return [RequestRow.of(row) for row in fetch_all(conn, "SELECT * FROM requests")]


def _follow(read: Callable[[Position | None], Page]) -> list[str]:
    """Every page, each after the last key of the one before; the ids in order."""
    ids: list[str] = []
    after: Position | None = None
    for _ in range(1000):  # more pages than rows: a page that does not move on
        page = read(after)
        ids += [row.id for row in page.rows]
        if page.after is None:
            assert len(ids) == len(set(ids)), "a row came twice"
            return ids
        after = page.after
    raise AssertionError("the pages never end")


def _newest_pages(
    conn: sqlite3.Connection, wanted: RequestFilter, user: str, author: str | None, limit: int
) -> list[str]:
    return _follow(
        lambda after: newest_first(
            conn, wanted, drafts_of=user, author=author, after=after, limit=limit
        )
    )


def _inbox_pages(conn: sqlite3.Connection, limit: int) -> list[str]:
    return _follow(lambda after: nearest_deadline_first(conn, after=after, limit=limit))


def _newest(rows: list[dict[str, Any]]) -> list[str]:
    ordered = sorted(rows, key=lambda r: (r.created_at, r.id), reverse=True)
    return [r.id for r in ordered]


def test_overdue_in_the_query_is_the_live_state(conn: sqlite3.Connection) -> None:
    rows = [r for r in _all(conn) if r.status != "draft"]
    for at in (NOW - timedelta(days=30), NOW, NOW + timedelta(days=3)):
        listed = _newest_pages(conn, RequestFilter(overdue_at=at), "liaison", None, 9)
        live = [r for r in rows if state_of(r, DeadlinePolicy(), at) == "overdue"]
        assert listed == _newest(live), at
    # the cases that make it more than "deadline passed" are all there
    past = [r for r in rows if r.deadline and r.deadline <= "2026-11-23T10:00:00.000000Z"]
    assert {r.status for r in past} >= {"received", "answered", "rejected", "expired"}
    assert len(listed) < len([r for r in rows if r.deadline])  # answered ones are not


FILTERS = [
    RequestFilter(),
    RequestFilter(direction="in"),
    RequestFilter(direction="out"),
    RequestFilter(peer="PT-PJ"),
    RequestFilter(peers=("ES-CNA", "SN-CNA")),
    RequestFilter(peers=()),
    RequestFilter(status="received"),
    RequestFilter(status="expired"),
    RequestFilter(urgency="emergency"),
    RequestFilter(direction="in", urgency="urgent", overdue_at=NOW, peers=("ES-CNA",)),
]


def _keeps(wanted: RequestFilter, row: dict[str, Any]) -> bool:
    checks = [
        wanted.direction in (None, row.direction),
        wanted.peer in (None, row.counterpart),
        wanted.peers is None or row.counterpart in wanted.peers,
        wanted.status in (None, row.status),
        wanted.urgency in (None, row.urgency),
    ]
    if wanted.overdue_at is not None:
        checks.append(state_of(row, DeadlinePolicy(), wanted.overdue_at) == "overdue")
    return all(checks)


@pytest.mark.parametrize("wanted", FILTERS)
@pytest.mark.parametrize(("user", "author"), [("liaison", None), ("inv-a", "inv-a")])
def test_every_page_of_a_filtered_list_follows_without_gap_or_repeat(
    conn: sqlite3.Connection, wanted: RequestFilter, user: str, author: str | None
) -> None:
    everything = _all(conn)
    expected = [
        r
        for r in everything
        if (r.status != "draft" or r.created_by == user)  # drafts: their author only
        and author in (None, r.created_by)
        and _keeps(wanted, r)
    ]
    for limit in (1, 7, 500):
        listed = _newest_pages(conn, wanted, user, author, limit)
        assert listed == _newest(expected)
    if wanted == RequestFilter():
        drafts = [r for r in everything if r.status == "draft"]
        own = {r.id for r in drafts if r.created_by == user}
        assert {r.id for r in drafts} & set(listed) == own
        assert len(own) == (2 if user == "inv-a" else 0)


def test_the_inbox_pages_by_deadline_then_the_rest_by_creation(conn: sqlite3.Connection) -> None:
    received = [r for r in _all(conn) if r.direction == "in"]
    ordered = sorted(
        received,
        key=lambda r: (r.deadline is None, r.deadline or "", r.created_at, r.id),
    )
    expected = [r.id for r in ordered]
    ties = {(r.deadline, r.created_at) for r in received}
    assert len(ties) < len(received) // 2  # many rows share a deadline and a creation time
    for limit in (1, 4, 29, 30, 31, 119, 120, 121):
        assert _inbox_pages(conn, limit) == expected
