"""A page of a list as the use cases hand it out: its rows, and the opaque cursor of
the next page (``core.cursor``); the page sizes every list shares."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from ..core import cursor as cursors
from ..core.cursor import Position
from ..store.paging import Page

PAGE_SIZE = 100  # rows of a list page, unless the caller asks for another number
MAX_PAGE_SIZE = 500

Row = TypeVar("Row")


@dataclass(frozen=True)
class Listed(Generic[Row]):
    """One page of a list, and the cursor of the next page (None on the last)."""

    rows: list[Row]
    next: str | None


def position(cursor: str | None, list_name: str) -> Position | None:
    """Where a page of ``list_name`` starts: after the cursor's row (None: the first
    page); ``Malformed`` for a cursor that is not one of this list."""
    return cursors.decode(cursor, list_name) if cursor else None


def listed(page: Page[Row], list_name: str) -> Listed[Row]:
    following = cursors.encode(list_name, page.after) if page.after is not None else None
    return Listed(page.rows, following)
