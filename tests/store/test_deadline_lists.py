"""The deadlines and the escalation alerts a page at a time (``store.deadline_lists``) against
a real SQLite file: followed page after page, every filter gives exactly the tracked
requests it names, each once, open ones first by time left, then the settled ones by
the time they had left when answered, ties by id; the settled margin computed in SQL is
exact to the microsecond; a page is a range scan of its index; a clock moving between
pages hides nothing; alerts newest first."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from exchange.core import ids
from exchange.core.canonical import parse_time
from exchange.core.cursor import Position
from exchange.core.deadlines import OPEN_STATES, DeadlinePolicy, state_at, time_left
from exchange.core.vault import Vault, new_storage_key
from exchange.store import deadlines, inbound, outbox
from exchange.store import requests as store
from exchange.store.db import fetch_all
from exchange.store.deadline_lists import MARGIN, DeadlineFilter, by_time_left, newest_alerts
from exchange.store.deadlines import DeadlineRow, facts_of
from exchange.store.paging import Page
from exchange.store.rows import RequestRow

from ..storage import connect, sqlite_only
from .request_rows import arrival, issue, reply, sent

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
H = timedelta(hours=1)
US = timedelta(microseconds=1)
ME = "MA-CNA"
POLICY = DeadlinePolicy(
    due_soon_fraction=0.25,
    due_soon_before={"emergency": 2 * H},
    acknowledge_within={"emergency": timedelta(minutes=30)},
)
# overdue, due soon (all urgencies, or all but emergencies), on track; ties on purpose,
# and fractions of a second on both sides of a second's boundary
DEADLINES = [
    NOW - 26 * H,
    NOW - 2 * H + 999_999 * US,
    NOW + timedelta(minutes=30),
    NOW + 90 * timedelta(minutes=1) + US,
    NOW + 5 * H,
    NOW + 20 * H,
    NOW + 72 * H,
    None,
]


@pytest.fixture(scope="module")
def conn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sqlite3.Connection]:
    """Received requests in every deadline state, some acknowledged, answered or
    rejected before or after their deadline (some a microsecond either side of it);
    investigators' sent requests, some expired; escalations from two sweeps, some of
    requests answered since."""
    conn = connect(tmp_path_factory.mktemp("deadlines") / "t.db")
    vault = Vault(new_storage_key())
    arrivals = [
        arrival(
            sender=("ES-CNA", "PT-PJ", "SN-CNA")[i % 3],
            urgency=("urgent", "emergency", "standard")[i % 5 % 3],
            created_at=NOW - 48 * H - timedelta(minutes=i // 10),  # ten at a time
            deadline=DEADLINES[i % 8],
        )
        for i in range(160)
    ]
    # answered close to a passed deadline: on either side of it by hours or a microsecond
    late = [
        arrival(
            sender=("ES-CNA", "PT-PJ", "SN-CNA")[i % 3],
            urgency=("urgent", "emergency", "standard")[i % 3],
            created_at=NOW - 48 * H,
            deadline=NOW - 20 * H - i % 4 * H + i % 2 * 999_999 * US,
        )
        for i in range(48)
    ]
    inbound.receive_all(conn, vault, me=ME, arrivals=arrivals + late, now=NOW - 48 * H, issue=issue)
    for i in range(40):
        at = NOW - 24 * H - timedelta(minutes=i // 3)
        message = sent(
            to=("ES-CNA", "SN-CNA")[i % 2],
            at=at,
            deadline=DEADLINES[i % 8],
            urgency=("urgent", "emergency")[i % 2],
        )
        store.create_request(
            conn, vault, me=ME, request_id=ids.request_id(), message=message,
            actor=("inv-a", "inv-b")[i // 2 % 2], now=at,
        )  # fmt: skip
        if i % 5 == 0:
            outbox.expire(conn, me=ME, msg_id=message.msg_id, error="gone", now=at)
    deadlines.sweep(conn, me=ME, policy=POLICY, now=NOW - 90 * timedelta(minutes=1))
    for i, a in enumerate(arrivals[:96]):
        kind = ("acknowledgement", "response", "rejection", None)[i // 3 % 4]
        if kind is not None:
            # before or after the deadline, on either side of a second's boundary
            at = NOW - (H, 3 * H, 30 * H)[i % 3] + (0, 999_999, 1)[i % 4 // 2 + i % 2] * US
            message = reply(kind, to=a.message.sender, at=at)
            store.add_follow_up(
                conn, vault, me=ME, request_id=a.new_request_id, message=message,
                actor="liaison", now=at,
            )  # fmt: skip
    for i, a in enumerate(late):
        deadline = parse_time(a.message.content["deadline"])
        at = deadline + (-2 * H, -US, US, 2 * H, 0 * US, 999_999 * US)[i % 6]
        message = reply(("response", "rejection")[i % 2], to=a.message.sender, at=at)
        store.add_follow_up(
            conn, vault, me=ME, request_id=a.new_request_id, message=message,
            actor="liaison", now=at,
        )  # fmt: skip
    deadlines.sweep(conn, me=ME, policy=POLICY, now=NOW)
    yield conn
    conn.close()


@dataclass(frozen=True)
class Judged:
    id: str
    state: str
    left: timedelta
    row: RequestRow


def _judged(conn: sqlite3.Connection, at: datetime) -> list[Judged]:
    """Every tracked request, judged by the pure rules at ``at``, in the list's order:
    open first, then by time left (frozen at the answer once settled), then by id."""
    found = []
    for raw in fetch_all(conn, "SELECT * FROM requests"):
        row = RequestRow.of(raw)
        if row.deadline is None or row.status == "expired":
            continue
        facts = facts_of(raw)
        state = state_at(facts, POLICY, at)
        found.append(Judged(row.id, state.value, time_left(facts, at), row))
    return sorted(found, key=lambda j: (j.state not in OPEN_STATES, j.left, j.id))


def _keeps(wanted: DeadlineFilter, j: Judged) -> bool:
    return (
        wanted.state in (None, j.state)
        and wanted.urgency in (None, j.row.urgency)
        and wanted.peer in (None, j.row.counterpart)
        and wanted.created_by in (None, j.row.created_by)
    )


def _follow(read: Callable[[Position | None], Page[DeadlineRow]]) -> list[str]:
    listed: list[str] = []
    after: Position | None = None
    for _ in range(1000):
        page = read(after)
        listed += [row.request_id for row in page.rows]
        if page.after is None:
            assert len(listed) == len(set(listed)), "a row came twice"
            return listed
        assert page.rows, "a page with nothing on it, and more to come"
        after = page.after
    raise AssertionError("the pages never end")


def _pages(conn: sqlite3.Connection, wanted: DeadlineFilter, limit: int) -> list[str]:
    return _follow(
        lambda after: by_time_left(conn, wanted, policy=POLICY, now=NOW, after=after, limit=limit)
    )


def test_the_fixture_has_every_state_and_ties(conn: sqlite3.Connection) -> None:
    judged = _judged(conn, NOW)
    states = [j.state for j in judged]
    assert {s: states.count(s) > 3 for s in set(states)} == {
        "on_track": True, "due_soon": True, "overdue": True, "met": True, "missed": True,
    }  # fmt: skip
    assert len({(j.state in ("met", "missed"), j.left) for j in judged}) < len(judged) // 2


def test_the_settled_margin_in_sql_is_exact(conn: sqlite3.Connection) -> None:
    rows = fetch_all(
        conn,
        f"SELECT deadline, COALESCE(answered_at, rejected_at) AS answered, {MARGIN} AS margin"  # noqa: S608
        " FROM requests WHERE deadline IS NOT NULL"
        " AND COALESCE(answered_at, rejected_at) IS NOT NULL",
    )
    assert len(rows) > 80
    assert {r["answered"][20:26] for r in rows} >= {"000000", "999999", "000001", "999998"}
    assert {r["margin"] for r in rows} >= {-1, 0, 1}
    for r in rows:
        exact = (parse_time(r["deadline"]) - parse_time(r["answered"])) // US
        assert r["margin"] == exact, r


FILTERS = [
    DeadlineFilter(),
    DeadlineFilter(state="on_track"),
    DeadlineFilter(state="due_soon"),
    DeadlineFilter(state="overdue"),
    DeadlineFilter(state="met"),
    DeadlineFilter(state="missed"),
    DeadlineFilter(urgency="emergency"),
    DeadlineFilter(peer="PT-PJ"),
    DeadlineFilter(created_by="inv-a"),
    DeadlineFilter(state="due_soon", urgency="urgent", peer="ES-CNA"),
    DeadlineFilter(state="on_track", created_by="inv-b"),
    DeadlineFilter(state="missed", urgency="standard"),
]


@pytest.mark.parametrize("wanted", FILTERS)
def test_every_page_of_a_filtered_deadline_list_follows_in_order(
    conn: sqlite3.Connection, wanted: DeadlineFilter
) -> None:
    expected = [j for j in _judged(conn, NOW) if _keeps(wanted, j)]
    assert expected or wanted.created_by == "inv-b"
    for limit in (1, 7, 500):
        assert _pages(conn, wanted, limit) == [j.id for j in expected], limit
    page = by_time_left(conn, wanted, policy=POLICY, now=NOW, after=None, limit=500)
    for row, j in zip(page.rows, expected, strict=True):
        assert (row.state, row.seconds_left) == (j.state, int(j.left.total_seconds()))


@pytest.mark.parametrize("wanted", FILTERS)
def test_a_filter_goes_on_from_any_position_of_the_list(
    conn: sqlite3.Connection, wanted: DeadlineFilter
) -> None:
    """A cursor is not bound to the filters: from the position of any row of the whole
    list (open or settled, answered in time or not), a filtered list goes on with the
    rows it holds after that row, in order."""
    judged = _judged(conn, NOW)
    for k in range(0, len(judged), 5):
        row = judged[k].row
        start = (row.deadline, row.answered_at or row.rejected_at, row.id)
        expected = [j.id for j in judged[k + 1 :] if _keeps(wanted, j)]
        listed = _follow(
            lambda after, start=start: by_time_left(
                conn, wanted, policy=POLICY, now=NOW, after=after or start, limit=6
            )
        )
        assert listed == expected, (k, judged[k].state)


@sqlite_only("its query plans, traced by set_trace_callback (PostgreSQL has no such hook)")
def test_a_page_is_a_range_scan_of_its_index(conn: sqlite3.Connection) -> None:
    executed: list[str] = []
    conn.set_trace_callback(executed.append)
    try:
        for wanted in FILTERS:
            _pages(conn, wanted, 11)
    finally:
        conn.set_trace_callback(None)
    assert len(executed) > 40
    used = set()
    for sql in executed:
        plan = " / ".join(row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql))
        assert "TEMP B-TREE" not in plan and " USING INDEX " in plan, (sql, plan)
        if "id) > (" in sql or " OR id > " in sql:  # after a cursor: from there, not the start
            assert plan.startswith("SEARCH requests USING INDEX "), (sql, plan)
            assert "(deadline,id)>(?,?)" in plan or "<expr>>?" in plan, (sql, plan)
        used.add(plan.split()[4])
    assert used == {
        "requests_deadlines_open",
        "requests_deadlines_settled",
        "requests_creator_deadlines_open",
        "requests_creator_deadlines_settled",
    }


@pytest.mark.parametrize("state", [None, "due_soon", "on_track", "overdue"])
def test_a_clock_moving_between_pages_hides_nothing(
    conn: sqlite3.Connection, state: str | None
) -> None:
    """Each page judges the live state at its own time. A row keeps its place in the
    order (its deadline, or its margin once settled), so without a state filter every
    row comes once; with one, a row in that state all along comes once, and a row on a
    page was in that state at the time of its page."""
    wanted = DeadlineFilter(state=state)
    walk: list[tuple[datetime, list[DeadlineRow]]] = []
    after: Position | None = None
    at = NOW - 2 * H
    while True:
        page = by_time_left(conn, wanted, policy=POLICY, now=at, after=after, limit=5)
        walk.append((at, page.rows))
        if page.after is None:
            break
        after, at = page.after, at + timedelta(minutes=20)
    assert len(walk) > 5
    listed = [row.request_id for _, rows in walk for row in rows]
    assert len(listed) == len(set(listed))
    first, last = _judged(conn, walk[0][0]), _judged(conn, walk[-1][0])
    if state is None:
        assert sorted(listed) == sorted(j.id for j in first)
        return
    for moment, rows in walk:
        assert all(row.state == state for row in rows), moment
    throughout = {j.id for j in first if j.state == state} & {
        j.id for j in last if j.state == state
    }
    assert throughout and throughout <= set(listed)


def _alerts(conn: sqlite3.Connection, created_by: str | None, open_only: bool) -> list[int]:
    rows = fetch_all(
        conn,
        "SELECT e.id, r.created_by, r.answered_at, r.rejected_at, r.status"
        " FROM deadline_escalations e, requests r WHERE r.id = e.request_id",
    )
    return sorted(
        (
            r["id"]
            for r in rows
            if created_by in (None, r["created_by"])
            and not (
                open_only and (r["answered_at"] or r["rejected_at"] or r["status"] == "expired")
            )
        ),
        reverse=True,
    )


@pytest.mark.parametrize(
    ("created_by", "open_only"), [(None, True), (None, False), ("inv-a", True), ("inv-b", False)]
)
def test_alerts_page_newest_first(
    conn: sqlite3.Connection, created_by: str | None, open_only: bool
) -> None:
    expected = _alerts(conn, created_by, open_only)
    assert len(expected) > 3
    for limit in (1, 9, 500):
        listed: list[int] = []
        after: Position | None = None
        while True:
            page = newest_alerts(
                conn, created_by=created_by, open_only=open_only, after=after, limit=limit
            )
            listed += [a.id for a in page.rows]
            if page.after is None:
                break
            after = page.after
        assert listed == expected, limit
    assert _alerts(conn, None, True) != _alerts(conn, None, False)  # some settled since
