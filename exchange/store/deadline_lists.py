"""The deadlines and the escalation alerts, one page at a time (keyset pagination, as
``store.request_lists``): no row is ever left out unseen, however many there are.

* ``by_time_left``: tracked requests, open ones first by time left, then the settled
  ones by the time they had left when answered; ties by id. Two parts, each a range
  scan of its partial index (migration 6), after the ``(deadline, answered_at or
  None, id)`` key of the previous page's last row.
* ``newest_alerts``: escalations, newest first, after the previous page's last id.

A page asks for one row more than it shows, so it knows whether another follows.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ..core.canonical import format_time, parse_time
from ..core.cursor import Position
from ..core.deadlines import (
    DeadlineFacts,
    DeadlinePolicy,
    describe,
    due_soon_at,
    state_at,
    time_left,
)
from .db import fetch_all, row_dict
from .deadlines import GONE_R, TRACKED, AlertRow, DeadlineRow, facts_of
from .paging import Page, page_of

OPEN = f"{TRACKED} AND answered_at IS NULL AND rejected_at IS NULL"
SETTLED = f"{TRACKED} AND (answered_at IS NOT NULL OR rejected_at IS NOT NULL)"
ANSWERED = "COALESCE(answered_at, rejected_at)"  # the answer or the rejection (facts_of)


def _margin(deadline: str, answered: str) -> str:
    """SQL: ``deadline - answered`` in whole microseconds, exactly. Times are fixed-width
    UTC text (``format_time``): the whole seconds through strftime, given without their
    fraction (SQLite would round it to the millisecond), plus the difference of the
    fractions' six digits."""

    def seconds(time: str) -> str:
        return f"CAST(strftime('%s', substr({time}, 1, 19)) AS INTEGER)"

    def micros(time: str) -> str:
        return f"CAST(substr({time}, 21, 6) AS INTEGER)"

    return (
        f"(({seconds(deadline)} - {seconds(answered)}) * 1000000"
        f" + {micros(deadline)} - {micros(answered)})"
    )


MARGIN = _margin("deadline", ANSWERED)
"""The time a settled request had left when answered (negative: missed), in
microseconds: the settled part's order, indexed by migration 6 (the same expression)."""


@dataclass(frozen=True)
class DeadlineFilter:
    """The tracked requests a deadlines list holds; None: any. ``state``: the live
    state at the page's time; ``created_by``: only the requests this user created."""

    state: str | None = None
    urgency: str | None = None
    peer: str | None = None
    created_by: str | None = None


def by_time_left(
    conn: sqlite3.Connection,
    wanted: DeadlineFilter,
    *,
    policy: DeadlinePolicy,
    now: datetime,
    after: Position | None,
    limit: int,
) -> Page[DeadlineRow]:
    """A page of tracked requests with their live state at ``now``, after the
    ``(deadline, answered_at or None, id)`` key ``after``.

    The order, in two parts, each one range scan of its index (migration 6):

    * open requests (neither answered nor rejected) by ``deadline, id``: the time left
      is ``deadline - now``, so the order by deadline is the order by time left, and it
      does not move while the clock does;
    * then the settled ones by ``MARGIN, id``: the time they had left when answered,
      frozen from then on.

    The filters on urgency, peer and creator are in the WHERE clause; so is the live
    state wherever stored columns decide it: ``overdue`` (deadline passed), ``met`` and
    ``missed`` (the margin's sign). ``on_track`` and ``due_soon`` also depend on the
    due-soon instant, a function of the urgency's policy; the query narrows them to the
    open requests not yet overdue, and each row is judged by ``state_at`` as it is read.
    The scan goes on until the page holds ``limit + 1`` rows in the state asked or the
    part ends, so a page is always every matching row of its stretch of the order: none
    is skipped because another did not match. The next page starts after the last row
    shown, so the rows judged beyond it are judged again, at that page's time.
    """
    found: list[DeadlineRow] = []
    for sql, params in _parts(wanted, now, after):
        rows = conn.execute(sql, params)
        try:
            for values in rows:  # stepped one by one: read only as far as the page needs
                row = row_dict(rows, values)
                facts = facts_of(row)
                state = state_at(facts, policy, now).value
                if wanted.state not in (None, state):
                    continue
                found.append(_deadline_row(row, facts, state, policy, now))
                if len(found) > limit:
                    return page_of(found, limit, _position)
        finally:
            rows.close()
    return page_of(found, limit, _position)


_COLUMNS = (
    "id, direction, counterpart, kind, urgency, status, created_by, created_at,"
    " deadline, acknowledged_at, answered_at, rejected_at"
)
_OPEN_STATES = (None, "on_track", "due_soon", "overdue")
_SETTLED_STATES = (None, "met", "missed")
_AFTER_MARGIN = f" AND {MARGIN} >= :margin AND ({MARGIN} > :margin OR id > :id)"


def _parts(
    wanted: DeadlineFilter, now: datetime, after: Position | None
) -> Iterator[tuple[str, dict[str, object]]]:
    """The queries of the parts the page may draw on, in the list's order. Each is one
    range of its order's key: SQLite seeks to one lower bound only, so of the cursor's
    and the state's, the query holds the later one."""
    at = format_time(now)
    params: dict[str, object] = {
        "now": at,
        "urgency": wanted.urgency,
        "peer": wanted.peer,
        "created_by": wanted.created_by,
    }
    common = ""  # fixed column names; every value is a bound parameter
    for column, name in (
        # unary +: not through requests_urgency_newest or _counterpart_newest
        # (migration 24), whose order is not this list's (SQLite would take them for
        # selective and sort every standard request, or a whole authority's)
        ("+urgency", "urgency"),
        ("+counterpart", "peer"),
        ("created_by", "created_by"),
    ):
        if params[name] is not None:
            common += f" AND {column} = :{name}"
    deadline, answered = (after[0], after[1]) if after is not None else (None, None)
    if after is not None:
        params.update(deadline=deadline, id=after[2])
    if wanted.state in _OPEN_STATES and answered is None:
        where = OPEN + common
        ahead = wanted.state in ("on_track", "due_soon")  # deadline still ahead
        if after is not None and not (ahead and str(deadline) < at):
            where += " AND (deadline, id) > (:deadline, :id)"
        elif ahead:  # (then every such row comes after the cursor, if any)
            where += " AND deadline > :now"
        if wanted.state == "overdue":
            where += " AND deadline <= :now"
        yield f"SELECT {_COLUMNS} FROM requests WHERE {where} ORDER BY deadline, id", params  # noqa: S608
    if wanted.state in _SETTLED_STATES:
        where = SETTLED + common
        margin = None if answered is None else _margin_of(str(deadline), str(answered))
        params["margin"] = margin
        if wanted.state == "missed":
            where += f" AND {MARGIN} < 0" + (_AFTER_MARGIN if margin is not None else "")
        elif margin is not None and (wanted.state is None or margin >= 0):
            where += _AFTER_MARGIN
        elif wanted.state == "met":  # (then every met row comes after the cursor, if any)
            where += f" AND {MARGIN} >= 0"
        yield f"SELECT {_COLUMNS} FROM requests WHERE {where} ORDER BY {MARGIN}, id", params  # noqa: S608


def _margin_of(deadline: str, answered: str) -> int:
    """``MARGIN`` of the cursor's row, in Python: its deadline minus its answer, in
    microseconds (the same number: tests/store/test_deadline_lists.py)."""
    return (parse_time(deadline) - parse_time(answered)) // timedelta(microseconds=1)


def _deadline_row(
    row: Mapping[str, Any], facts: DeadlineFacts, state: str, policy: DeadlinePolicy, now: datetime
) -> DeadlineRow:
    left = time_left(facts, now)
    return DeadlineRow(
        request_id=row["id"],
        direction=row["direction"],
        counterpart=row["counterpart"],
        kind=row["kind"],
        urgency=row["urgency"],
        status=row["status"],
        created_by=row["created_by"],
        created_at=row["created_at"],
        deadline=row["deadline"],
        due_soon_at=format_time(due_soon_at(facts, policy)),
        acknowledged_at=row["acknowledged_at"],
        answered_at=row["answered_at"] or row["rejected_at"],
        state=state,
        seconds_left=int(left.total_seconds()),
        time_left=describe(left),
    )


def _position(row: DeadlineRow) -> Position:
    return (row.deadline, row.answered_at, row.request_id)


def newest_alerts(
    conn: sqlite3.Connection,
    *,
    created_by: str | None,
    open_only: bool,
    after: Position | None,
    limit: int,
) -> Page[AlertRow]:
    """A page of escalations, newest first (by id), after the ``(id,)`` key ``after``,
    with the metadata of their request (no contents). ``open_only``: of requests
    neither answered, rejected nor expired; ``created_by``: of this user's requests."""
    where = ["1 = 1"]
    params: list[Any] = []
    if created_by is not None:
        where.append("r.created_by = ?")
        params.append(created_by)
    if open_only:
        where.append("r.answered_at IS NULL AND r.rejected_at IS NULL AND r.status != 'expired'")
        where.append(GONE_R)
    if after is not None:
        where.append("e.id < ?")
        params.append(after[0])
    clause = " AND ".join(where)  # fixed clauses; values are bound parameters
    columns = "e.id, e.at, e.kind, e.request_id, e.deadline, r.direction, r.counterpart, r.urgency"
    # CROSS JOIN: escalations outside, so the page is a scan of their ids from the cursor
    joined = "deadline_escalations e CROSS JOIN requests r ON r.id = e.request_id"
    sql = f"SELECT {columns}, r.status FROM {joined} WHERE {clause} ORDER BY e.id DESC LIMIT ?"  # noqa: S608
    found = fetch_all(conn, sql, (*params, limit + 1))
    return page_of([AlertRow(**row) for row in found], limit, lambda alert: (alert.id,))
