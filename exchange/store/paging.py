"""A page of a list read by keyset (``core.cursor``): its rows, and the sort key of its
last row when more rows follow. A page is read as ``limit + 1`` rows: the one more
says whether another page follows, and is not shown."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from ..core.cursor import Position

Row = TypeVar("Row")


@dataclass(frozen=True)
class Page(Generic[Row]):
    """Rows of one page, and the sort key of its last row when more rows follow."""

    rows: list[Row]
    after: Position | None


def page_of(found: list[Row], limit: int, key: Callable[[Row], Position]) -> Page[Row]:
    """The first ``limit`` of ``found`` (up to ``limit + 1`` rows read in the list's
    order), with the key to start the next page from if there were more."""
    if len(found) <= limit:
        return Page(found, None)
    shown = found[:limit]
    return Page(shown, key(shown[-1]))


# A filter that no index serves in the list's order (a country's authorities, the
# cases of an authority, overdue requests) is read one of two ways: when few rows match
# (under SPARSE), those rows through their own index, sorted (at most SPARSE rows);
# when many match, the list's order index, filtered as it goes (a page is near). Which
# is counted first, through the filter's index, stopping at SPARSE.
SPARSE = 5000


def is_sparse(conn: sqlite3.Connection, select: str, params: Sequence[object]) -> bool:
    """Whether ``select`` (a SELECT through an index) yields fewer than SPARSE rows."""
    sql = f"SELECT COUNT(*) FROM ({select} LIMIT {SPARSE}) AS sparse"  # noqa: S608 (fixed text)
    return int(conn.execute(sql, tuple(params)).fetchone()[0]) < SPARSE
