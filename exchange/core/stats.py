"""Cooperation statistics per peer authority or per country, from metadata only.

Each row is one group (a peer authority, or a country) and one direction:
``out`` are the requests we sent them (their responsiveness), ``in`` the ones
they sent us (ours). Durations run from the request's creation (the signed
creation time, the same on both nodes) to its delivery receipt, its
acknowledgement, and its answer (a response or a rejection). The median is
the usual one (the mean of the two middle values for an even count); the
90th percentile is the nearest-rank one (the ceil(0.9 n)-th smallest value).
"On time" is the share of requests answered by their deadline among those
whose outcome is known: answered, or still open past the deadline.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class RequestRecord:
    direction: str  # "out" or "in"
    peer: str
    country: str
    created_at: datetime
    deadline: datetime | None = None
    delivered_at: datetime | None = None
    acknowledged_at: datetime | None = None
    answered_at: datetime | None = None


@dataclass(frozen=True)
class GroupStats:
    group: str
    direction: str
    requests: int
    delivery_p50_s: float | None
    delivery_p90_s: float | None
    acknowledge_p50_s: float | None
    acknowledge_p90_s: float | None
    answer_p50_s: float | None
    answer_p90_s: float | None
    answered: int
    on_time: int
    judged: int  # outcome known: answered, or open past its deadline
    overdue_now: int

    @property
    def on_time_share(self) -> float | None:
        return self.on_time / self.judged if self.judged else None


FIELDS = (
    "group",
    "direction",
    "requests",
    "delivery_p50_s",
    "delivery_p90_s",
    "acknowledge_p50_s",
    "acknowledge_p90_s",
    "answer_p50_s",
    "answer_p90_s",
    "answered",
    "on_time",
    "judged",
    "on_time_share",
    "overdue_now",
)


def nearest_rank(values: list[float], percent: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(math.ceil(percent / 100 * len(ordered)), 1) - 1]


def median(values: list[float]) -> float | None:
    return float(statistics.median(values)) if values else None


def _durations(
    records: list[RequestRecord], end: Callable[[RequestRecord], datetime | None]
) -> list[float]:
    found = []
    for r in records:
        moment = end(r)
        if moment is not None:
            found.append((moment - r.created_at).total_seconds())
    return found


def group_stats(
    group: str, direction: str, records: list[RequestRecord], now: datetime
) -> GroupStats:
    delivery = _durations(records, lambda r: r.delivered_at)
    ack = _durations(records, lambda r: r.acknowledged_at)
    answer = _durations(records, lambda r: r.answered_at)
    on_time = judged = overdue = 0
    for r in records:
        if r.deadline is None:
            continue
        if r.answered_at is not None:
            judged += 1
            on_time += r.answered_at <= r.deadline
        elif now >= r.deadline:
            judged += 1
            overdue += 1
    return GroupStats(
        group=group,
        direction=direction,
        requests=len(records),
        delivery_p50_s=median(delivery),
        delivery_p90_s=nearest_rank(delivery, 90),
        acknowledge_p50_s=median(ack),
        acknowledge_p90_s=nearest_rank(ack, 90),
        answer_p50_s=median(answer),
        answer_p90_s=nearest_rank(answer, 90),
        answered=len(answer),
        on_time=on_time,
        judged=judged,
        overdue_now=overdue,
    )


def summarize(records: Iterable[RequestRecord], *, by: str, now: datetime) -> list[GroupStats]:
    """Rows per (peer or country, direction), sorted by group then direction."""
    if by not in ("peer", "country"):
        raise ValueError("by must be 'peer' or 'country'")
    groups: dict[tuple[str, str], list[RequestRecord]] = {}
    for r in records:
        key = (r.peer if by == "peer" else r.country, r.direction)
        groups.setdefault(key, []).append(r)
    return [group_stats(g, d, rs, now) for (g, d), rs in sorted(groups.items())]


def as_row(stats: GroupStats) -> dict[str, object]:
    row: dict[str, object] = {name: getattr(stats, name) for name in FIELDS}
    return row
