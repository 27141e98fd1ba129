"""A page of a list read by keyset (``core.cursor``): its rows, and the sort key of its
last row when more rows follow. A page is read as ``limit + 1`` rows: the one more
says whether another page follows, and is not shown."""

from __future__ import annotations

from collections.abc import Callable
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
