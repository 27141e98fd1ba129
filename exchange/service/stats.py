"""Cooperation statistics over a period, per peer or per country (metadata only)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from ..core.canonical import format_time, parse_time
from ..core.errors import Malformed
from ..core.stats import GroupStats, summarize
from ..store import stats as store
from .node import Node

DEFAULT_PERIOD = timedelta(days=90)
GROUPINGS = ("peer", "country")


@dataclass(frozen=True)
class Period:
    start: datetime
    end: datetime
    by: str

    def to_json(self) -> dict[str, str]:
        return {"from": format_time(self.start), "to": format_time(self.end), "by": self.by}


def period(node: Node, start: str | None, end: str | None, by: str | None) -> Period:
    """``from``/``to`` as RFC 3339 UTC (default: the last 90 days) and the grouping."""
    until = parse_time(end, field="to") if end else node.clock.now()
    since = parse_time(start, field="from") if start else until - DEFAULT_PERIOD
    if since >= until:
        raise Malformed("from must be before to")
    by = "peer" if by is None else by
    if by not in GROUPINGS:
        raise Malformed("by must be 'peer' or 'country'")
    return Period(since, until, by)


async def statistics(node: Node, wanted: Period) -> list[GroupStats]:
    directory = node.directory.current

    def country_of(authority_id: str) -> str:
        authority = directory.get(authority_id) if directory else None
        return authority.country if authority else "??"

    found = await node.db.run(
        lambda c: store.records(c, start=wanted.start, end=wanted.end, country_of=country_of)
    )
    return summarize(found, by=wanted.by, now=min(node.clock.now(), wanted.end))
