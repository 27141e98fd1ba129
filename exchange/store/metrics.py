"""What ``/metrics`` reads from the database at scrape time (counts and durations)."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from datetime import datetime

from ..core.canonical import parse_time
from . import audit, outbox, witness_statements

# Latency histograms cover recent requests only, so a scrape stays cheap.
LATENCY_WINDOW_ROWS = 10_000


@dataclass
class Snapshot:
    backlog: dict[str, int]
    deadline_states: dict[tuple[str, str], int]
    overdue: int
    audit_size: int
    ack: dict[str, list[float]] = field(default_factory=dict)
    answer: dict[str, list[float]] = field(default_factory=dict)
    # witness alerts per (watched peer, kind): raised by this node, received from others
    witness_raised: dict[tuple[str, str], int] = field(default_factory=dict)
    witness_received: dict[tuple[str, str], int] = field(default_factory=dict)


def snapshot(conn: sqlite3.Connection) -> Snapshot:
    states: dict[tuple[str, str], int] = {}
    for state, direction, count in conn.execute(
        "SELECT deadline_state, direction, COUNT(*) FROM requests"
        " WHERE deadline_state IS NOT NULL GROUP BY deadline_state, direction"
    ):
        states[(str(state), str(direction))] = int(count)
    snap = Snapshot(
        backlog=outbox.backlog(conn),
        deadline_states=states,
        overdue=sum(n for (state, _), n in states.items() if state == "overdue"),
        audit_size=audit.size(conn),
        witness_raised=witness_statements.raised_counts(conn),
        witness_received=witness_statements.received_counts(conn),
    )
    rows = conn.execute(
        "SELECT direction, created_at, acknowledged_at, COALESCE(answered_at, rejected_at)"
        " FROM requests WHERE acknowledged_at IS NOT NULL OR answered_at IS NOT NULL"
        " OR rejected_at IS NOT NULL ORDER BY created_at DESC LIMIT ?",
        (LATENCY_WINDOW_ROWS,),
    ).fetchall()
    for direction, created, acked, answered in rows:
        start = parse_time(created)
        for moment, target in ((acked, snap.ack), (answered, snap.answer)):
            if moment:
                target.setdefault(direction, []).append(_seconds(start, parse_time(moment)))
    return snap


def _seconds(start: datetime, end: datetime) -> float:
    return max((end - start).total_seconds(), 0.0)
