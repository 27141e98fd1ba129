"""Lists of cases, one page at a time (keyset pagination, as ``request_lists``).

Newest first: ``created_at DESC, id DESC``. Who may see which cases and the board's
filters are in the WHERE clause, so a page is never a truncated set filtered
afterwards and no case is ever left out unseen.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..core.canonical import format_time
from ..core.cursor import Position
from ..core.vault import Vault
from .cases import CASE_COLUMNS, CaseRow, case_of
from .db import fetch_all
from .deadlines import OVERDUE_AT
from .paging import Page, is_sparse, page_of


@dataclass(frozen=True)
class CaseFilter:
    """The cases a list holds; None: any. ``authority``: a counterpart of one of its
    requests; ``country`` on its route, or ``peers`` (that country's authorities) among
    its requests' counterparts; ``overdue_at``: one of its requests overdue then."""

    status: str | None = None
    authority: str | None = None
    country: str | None = None
    peers: tuple[str, ...] = ()
    overdue_at: datetime | None = None
    shared: bool = False  # only cases shared with other authorities (store/sharing.py)


_CASES_OF = "SELECT case_id FROM requests WHERE case_id IS NOT NULL AND"
_OF_CASE = "SELECT 1 FROM requests WHERE requests.case_id = cases.id AND"


def _of_requests(conn: sqlite3.Connection, condition: str, params: list[Any]) -> str:
    """The cases holding a request that meets ``condition``, as a WHERE term."""
    if is_sparse(conn, f"{_CASES_OF} {condition}", params):
        return f"cases.id IN ({_CASES_OF} {condition})"
    return f"EXISTS ({_OF_CASE} {condition})"


def newest_first(
    conn: sqlite3.Connection,
    vault: Vault,
    wanted: CaseFilter,
    *,
    created_by: str | None,
    after: Position | None,
    limit: int,
) -> Page[CaseRow]:
    """A page of cases, newest first, after the ``(created_at, id)`` key ``after``;
    ``created_by``: only the cases this user opened."""
    where, params = _where(conn, wanted, created_by=created_by)
    if after is not None:
        where.append("(cases.created_at, cases.id) < (?, ?)")
        params.extend(after)
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    # fixed column names; every value is a bound parameter
    sql = f"SELECT {CASE_COLUMNS} FROM cases {clause} ORDER BY created_at DESC, id DESC LIMIT ?"  # noqa: S608
    rows = [case_of(vault, row) for row in fetch_all(conn, sql, (*params, limit + 1))]
    return page_of(rows, limit, lambda row: (row.created_at, row.id))


def among(
    conn: sqlite3.Connection,
    vault: Vault,
    wanted: CaseFilter,
    ids: list[str],
    *,
    created_by: str | None,
) -> list[CaseRow]:
    """Those of ``ids`` (the text filter's candidates, from the search index) that the
    board with these filters holds, newest first: the WHERE clause of ``newest_first``."""
    where, params = _where(conn, wanted, created_by=created_by)
    where.append(f"cases.id IN ({','.join('?' * len(ids))})")
    # fixed column names; every value is a bound parameter
    sql = f"SELECT {CASE_COLUMNS} FROM cases WHERE {' AND '.join(where)}"  # noqa: S608
    rows = [case_of(vault, row) for row in fetch_all(conn, sql, (*params, *ids))]
    return sorted(rows, key=lambda row: (row.created_at, row.id), reverse=True)


def _where(
    conn: sqlite3.Connection, wanted: CaseFilter, *, created_by: str | None
) -> tuple[list[str], list[Any]]:
    where: list[str] = []
    params: list[Any] = []
    if created_by is not None:
        where.append("cases.created_by = ?")
        params.append(created_by)
    if wanted.status is not None:
        where.append("cases.status = ?")
        params.append(wanted.status)
    # through the requests' indexes (migration 24) when few requests match, else
    # case by case in the board's order (store/paging.is_sparse)
    if wanted.authority is not None:
        where.append(_of_requests(conn, "requests.counterpart = ?", [wanted.authority]))
        params.append(wanted.authority)
    if wanted.country is not None:
        on_route = (
            "EXISTS (SELECT 1 FROM json_each(cases.route) AS stop"
            " WHERE json_extract(stop.value, '$.country') = ?)"
        )
        peers = ",".join("?" * len(wanted.peers)) or "NULL"
        of_peers = _of_requests(conn, f"requests.counterpart IN ({peers})", list(wanted.peers))
        where.append(f"((cases.route != '[]' AND {on_route}) OR {of_peers})")
        params += [wanted.country, *wanted.peers]
    if wanted.overdue_at is not None:
        when = [format_time(wanted.overdue_at)]
        where.append(_of_requests(conn, OVERDUE_AT, when))
        params += when
    if wanted.shared:
        where.append("cases.origin IS NOT NULL")
    return where, params
