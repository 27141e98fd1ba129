"""Deadline tracking in the database: states, escalations and webhook calls.

``sweep`` is one transaction: it moves every open request to the state the
pure rules (``exchange.core.deadlines``) give for ``now``, records each new
escalation once (``UNIQUE (request_id, kind)``) with its audit entry, and
queues the webhook calls announcing it, so nothing is announced that was
not recorded, and nothing recorded goes unannounced.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from ..core.canonical import JsonObject, canonical_json, format_time, parse_time
from ..core.deadlines import (
    DeadlineFacts,
    DeadlinePolicy,
    escalations_at,
    next_change,
    state_at,
)
from ..core.lifecycle import Status
from .db import fetch_all, transaction
from .rows import RequestRow
from .transitions import Change, Entry, apply

# A request withdrawn, or transferred away by this node, has no deadline left here.
GONE = "status != 'withdrawn' AND NOT (status = 'transferred' AND direction = 'in')"
GONE_R = GONE.replace("status", "r.status").replace("direction", "r.direction")
# Spontaneous information takes no deadline (core.content); an older row that has one
# is still never tracked: it awaits no answer.
TRACKED = (
    f"deadline IS NOT NULL AND status != 'expired' AND {GONE} AND kind != 'spontaneous_information'"
)
# The live state is ``overdue`` at the bound instant (as ``state_of`` judges it): tracked,
# neither answered nor rejected, deadline passed. Times are fixed-width UTC text
# (``format_time``), so they compare as text.
OVERDUE_AT = f"{TRACKED} AND answered_at IS NULL AND rejected_at IS NULL AND deadline <= ?"
NEVER = "9999-12-31T23:59:59.999999Z"  # check_at of a request whose state cannot change


@dataclass(frozen=True)
class Escalated:
    request_id: str
    kind: str
    urgency: str
    direction: str
    counterpart: str
    deadline: str


@dataclass(frozen=True)
class DeadlineRow:
    """A tracked request's deadline as lists show it (metadata only)."""

    request_id: str
    direction: str
    counterpart: str
    kind: str
    urgency: str
    status: str
    created_by: str | None
    created_at: str
    deadline: str
    due_soon_at: str
    acknowledged_at: str | None
    answered_at: str | None  # answered or rejected
    state: str
    seconds_left: int
    time_left: str
    # the request's conditions of use (issue 16), from its content: set by
    # service/deadlines for those who may read it, else None
    handling: JsonObject | None = None

    def to_json(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class AlertRow:
    """An escalation with the metadata of its request (no contents)."""

    id: int
    at: str
    kind: str
    request_id: str
    deadline: str
    direction: str
    counterpart: str
    urgency: str
    status: str

    def to_json(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class SweepResult:
    escalated: list[Escalated]
    changed: int
    next_change: datetime | None


def facts_of(row: Mapping[str, Any]) -> DeadlineFacts:
    answered = row["answered_at"] or row["rejected_at"]
    return DeadlineFacts(
        urgency=row["urgency"],
        created_at=parse_time(row["created_at"]),
        deadline=parse_time(row["deadline"]),
        acknowledged_at=parse_time(row["acknowledged_at"]) if row["acknowledged_at"] else None,
        answered_at=parse_time(answered) if answered else None,
    )


def sweep(
    conn: sqlite3.Connection,
    *,
    me: str,
    policy: DeadlinePolicy,
    now: datetime,
    webhooks: tuple[str, ...] = (),
) -> SweepResult:
    escalated: list[Escalated] = []
    changed = 0
    with transaction(conn):
        # only the requests whose time has come, or whose status moved (check_at NULL)
        rows = fetch_all(
            conn,
            f"SELECT * FROM requests WHERE {TRACKED} AND "  # noqa: S608 (a fixed condition)
            "(deadline_check_at IS NULL OR deadline_check_at <= ?)",
            (format_time(now),),
        )
        for row in rows:
            facts = facts_of(row)
            state = state_at(facts, policy, now)
            moment = next_change(facts, policy, now)
            conn.execute(
                "UPDATE requests SET deadline_state = ?, deadline_check_at = ? WHERE id = ?",
                (state.value, format_time(moment) if moment else NEVER, row["id"]),
            )
            changed += state.value != row["deadline_state"]
            for kind in sorted(escalations_at(facts, policy, now)):
                if _record(conn, me, row, kind.value, now, webhooks):
                    escalated.append(
                        Escalated(
                            row["id"],
                            kind.value,
                            row["urgency"],
                            row["direction"],
                            row["counterpart"],
                            row["deadline"],
                        )
                    )
        upcoming = conn.execute(
            f"SELECT MIN(deadline_check_at) FROM requests WHERE {TRACKED}"  # noqa: S608
            " AND deadline_check_at < ?",
            (NEVER,),
        ).fetchone()[0]
    return SweepResult(escalated, changed, parse_time(upcoming) if upcoming else None)


def _record(
    conn: sqlite3.Connection,
    me: str,
    row: dict[str, Any],
    kind: str,
    now: datetime,
    webhooks: tuple[str, ...],
) -> bool:
    cursor = conn.execute(
        "INSERT OR IGNORE INTO deadline_escalations (request_id, kind, at, deadline)"
        " VALUES (?, ?, ?, ?)",
        (row["id"], kind, format_time(now), row["deadline"]),
    )
    if cursor.rowcount == 0:
        return False  # escalated before: once is enough
    fields = {
        "request_id": row["id"],
        "peer": row["counterpart"],
        "escalation": kind,
        "urgency": row["urgency"],
        "deadline": row["deadline"],
    }
    change = Change(
        row["id"],
        Status(row["status"]),
        timeline="deadline_escalated",
        detail={"kind": kind, "deadline": row["deadline"]},
        entries=[Entry("deadline_escalated", "system", fields)],
    )
    apply(conn, [change], me=me, now=now)
    body = canonical_json(
        {
            "event": "deadline_escalated",
            "authority": me,
            "request_id": row["id"],
            "direction": row["direction"],
            "counterpart": row["counterpart"],
            "urgency": row["urgency"],
            "escalation": kind,
            "deadline": row["deadline"],
            "at": format_time(now),
        }
    )
    for url in webhooks:
        conn.execute(
            "INSERT INTO webhook_outbox (url, body, state, next_attempt_at, created_at)"
            " VALUES (?, ?, 'pending', ?, ?)",
            (url, body, format_time(now), format_time(now)),
        )
    return True


# --- reads -----------------------------------------------------------------


def state_of(row: RequestRow, policy: DeadlinePolicy, now: datetime) -> str | None:
    """The live deadline state of a request (None when it has no deadline)."""
    gone = row.status is Status.WITHDRAWN or (
        row.status is Status.TRANSFERRED and row.direction == "in"
    )
    if not row.deadline or row.status is Status.EXPIRED or gone:
        return None
    # the row's own fields, not a copy of them for every row of a list page
    return state_at(facts_of(vars(row)), policy, now).value


def open_alert_count(conn: sqlite3.Connection, created_by: str | None = None) -> int:
    """Escalations of requests still open (an investigator's own, or all)."""
    sql = (
        "SELECT COUNT(*) FROM deadline_escalations e JOIN requests r ON r.id = e.request_id"  # noqa: S608 (fixed conditions)
        " WHERE r.answered_at IS NULL AND r.rejected_at IS NULL AND r.status != 'expired'"
        f" AND {GONE_R}"
    )
    if created_by is None:
        return int(conn.execute(sql).fetchone()[0])
    return int(conn.execute(sql + " AND r.created_by = ?", (created_by,)).fetchone()[0])


# --- webhook outbox ----------------------------------------------------------


@dataclass(frozen=True)
class WebhookCall:
    id: int
    url: str
    body: bytes
    attempts: int


def due_webhooks(conn: sqlite3.Connection, now: datetime, limit: int = 50) -> list[WebhookCall]:
    rows = conn.execute(
        "SELECT id, url, body, attempts FROM webhook_outbox WHERE state = 'pending'"
        " AND next_attempt_at <= ? ORDER BY id LIMIT ?",
        (format_time(now), limit),
    ).fetchall()
    return [WebhookCall(int(r[0]), str(r[1]), bytes(r[2]), int(r[3])) for r in rows]


def next_webhook_at(conn: sqlite3.Connection) -> datetime | None:
    row = conn.execute(
        "SELECT MIN(next_attempt_at) FROM webhook_outbox WHERE state = 'pending'"
    ).fetchone()
    return parse_time(row[0]) if row[0] else None


def webhook_done(conn: sqlite3.Connection, call_id: int) -> None:
    conn.execute(
        "UPDATE webhook_outbox SET state = 'done', attempts = attempts + 1, last_error = NULL"
        " WHERE id = ?",
        (call_id,),
    )


def webhook_failed(
    conn: sqlite3.Connection, call_id: int, *, error: str, retry_at: datetime | None
) -> None:
    """Schedule another attempt, or give up for good when ``retry_at`` is None."""
    if retry_at is None:
        conn.execute(
            "UPDATE webhook_outbox SET state = 'failed', attempts = attempts + 1, last_error = ?"
            " WHERE id = ?",
            (error, call_id),
        )
        return
    conn.execute(
        "UPDATE webhook_outbox SET attempts = attempts + 1, last_error = ?, next_attempt_at = ?"
        " WHERE id = ?",
        (error, format_time(retry_at), call_id),
    )
