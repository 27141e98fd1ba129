"""The metadata that cooperation statistics are computed from (never contents)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import datetime

from ..core.canonical import format_time, parse_time
from ..core.stats import RequestRecord


def records(
    conn: sqlite3.Connection,
    *,
    start: datetime,
    end: datetime,
    country_of: Callable[[str], str],
) -> list[RequestRecord]:
    """Requests created in ``[start, end)``, excluding those that expired undelivered."""
    rows = conn.execute(
        "SELECT direction, counterpart, created_at, deadline, delivered_at, acknowledged_at,"
        " COALESCE(answered_at, rejected_at) FROM requests"
        " WHERE created_at >= ? AND created_at < ? AND status != 'expired'",
        (format_time(start), format_time(end)),
    ).fetchall()

    def moment(text: str | None) -> datetime | None:
        return parse_time(text) if text else None

    return [
        RequestRecord(
            direction=str(r[0]),
            peer=str(r[1]),
            country=country_of(str(r[1])),
            created_at=parse_time(r[2]),
            deadline=moment(r[3]),
            delivered_at=moment(r[4]),
            acknowledged_at=moment(r[5]),
            answered_at=moment(r[6]),
        )
        for r in rows
    ]
