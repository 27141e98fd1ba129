"""Lists of requests, one page at a time (keyset pagination).

Each list has one total order (the id breaks ties; ids are time-ordered), and a page
starts strictly after the sort key of the previous page's last row: no OFFSET, so a
page costs the same wherever it is, and rows arriving meanwhile shift nothing. Who may
see which rows, and the board's filters, are in the WHERE clause: a page is never
a truncated set filtered afterwards, so no row is ever left out unseen.

* ``newest_first``: ``created_at DESC, id DESC``.
* ``nearest_deadline_first`` (the inbox): the received requests with a deadline by
  deadline, then those without; within each, ``created_at``, then ``id``. One index
  range scan per part (``requests_inbox``, migration 5).

A page asks for one row more than it shows, so it knows whether another follows.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..core.canonical import format_time
from ..core.cursor import Position
from .db import fetch_all
from .deadlines import OVERDUE_AT
from .paging import Page, is_sparse, page_of
from .rows import REQUEST_COLUMNS, RequestRow


@dataclass(frozen=True)
class RequestFilter:
    """The rows a newest-first list holds; None: any. ``peers``: the counterpart is
    one of these (a country's authorities; empty: none); ``overdue_at``: only requests
    overdue at that instant."""

    direction: str | None = None
    peer: str | None = None
    peers: tuple[str, ...] | None = None
    status: str | None = None
    urgency: str | None = None
    kind: str | None = None
    overdue_at: datetime | None = None


def newest_first(
    conn: sqlite3.Connection,
    wanted: RequestFilter,
    *,
    drafts_of: str,
    author: str | None,
    after: Position | None,
    limit: int,
) -> Page[RequestRow]:
    """A page of requests, newest first, after the ``(created_at, id)`` key ``after``.

    A draft is listed to its author (``drafts_of``) only; ``author``: only the
    requests this user created."""
    where, params = _where(conn, wanted, drafts_of=drafts_of, author=author)
    if after is not None:
        where.append("(created_at, id) < (?, ?)")
        params.extend(after)
    clause = " AND ".join(where)  # fixed column names; every value is a bound parameter
    sql = f"{_SELECT} WHERE {clause} ORDER BY created_at DESC, id DESC LIMIT ?"
    rows = fetch_all(conn, sql, (*params, limit + 1))
    return _page(rows, limit, lambda row: (row.created_at, row.id))


def among(
    conn: sqlite3.Connection,
    wanted: RequestFilter,
    ids: list[str],
    *,
    drafts_of: str,
    author: str | None,
) -> list[RequestRow]:
    """Those of ``ids`` (search's candidates) that the list with these filters holds,
    newest first, whose contents are not erased: the very WHERE clause of
    ``newest_first``, so search shows exactly what the lists show."""
    where, params = _where(None, wanted, drafts_of=drafts_of, author=author)
    where += ["erased_at IS NULL", f"id IN ({','.join('?' * len(ids))})"]
    sql = f"{_SELECT} WHERE {' AND '.join(where)}"  # fixed names; values are bound
    rows = [RequestRow.of(row) for row in fetch_all(conn, sql, (*params, *ids))]
    return sorted(rows, key=lambda row: (row.created_at, row.id), reverse=True)


def _where(
    conn: sqlite3.Connection | None,
    wanted: RequestFilter,
    *,
    drafts_of: str,
    author: str | None,
) -> tuple[list[str], list[Any]]:
    where = ["(status != 'draft' OR created_by = ?)"]
    params: list[Any] = [drafts_of]
    for column, value in (
        ("created_by", author),
        ("direction", wanted.direction),
        ("counterpart", wanted.peer),
        ("status", wanted.status),
        ("urgency", wanted.urgency),
        ("kind", wanted.kind),
    ):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    if wanted.peers is not None:  # SQLite takes an empty IN () as false
        # few of them: through requests_counterpart_newest, sorted; many: in list order
        among = f"counterpart IN ({','.join('?' * len(wanted.peers))})"
        select = f"SELECT 1 FROM requests WHERE {among}"  # noqa: S608 (fixed text)
        sparse = conn is None or is_sparse(conn, select, wanted.peers)
        where.append(among if sparse else f"+{among}")
        params.extend(wanted.peers)
    if wanted.overdue_at is not None:  # the open ones' own index (migration 24)
        where.append(OVERDUE_AT)
        params.append(format_time(wanted.overdue_at))
    return where, params


_SELECT = f"SELECT {REQUEST_COLUMNS} FROM requests"  # noqa: S608 (fixed column names)
_INBOX = f"{_SELECT} WHERE direction = 'in'"
_WITH_DEADLINE = " AND deadline IS NOT NULL{after} ORDER BY deadline, created_at, id LIMIT ?"
_WITHOUT_DEADLINE = " AND deadline IS NULL{after} ORDER BY created_at, id LIMIT ?"


def nearest_deadline_first(
    conn: sqlite3.Connection, *, after: Position | None, limit: int
) -> Page[RequestRow]:
    """A page of received requests, nearest deadline first, after the
    ``(deadline or None, created_at, id)`` key ``after``."""
    rows: list[dict[str, Any]] = []
    if after is None:
        rows = fetch_all(conn, _INBOX + _WITH_DEADLINE.format(after=""), (limit + 1,))
    elif after[0] is not None:
        later = _WITH_DEADLINE.format(after=" AND (deadline, created_at, id) > (?, ?, ?)")
        rows = fetch_all(conn, _INBOX + later, (*after, limit + 1))
    if len(rows) <= limit:  # the page reaches the requests without a deadline
        sql, params = _WITHOUT_DEADLINE.format(after=""), []
        if after is not None and after[0] is None:
            sql = _WITHOUT_DEADLINE.format(after=" AND (created_at, id) > (?, ?)")
            params = list(after[1:])
        rows += fetch_all(conn, _INBOX + sql, (*params, limit + 1 - len(rows)))
    return _page(rows, limit, lambda row: (row.deadline, row.created_at, row.id))


def _page(
    found: list[dict[str, Any]], limit: int, key: Callable[[RequestRow], Position]
) -> Page[RequestRow]:
    return page_of([RequestRow.of(row) for row in found[: limit + 1]], limit, key)
