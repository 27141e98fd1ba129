"""The one writer of a request's status, with its timeline event and audit entry.

A status moves only here: ``apply`` asks the pure rules (``core.lifecycle.transition``)
where each event takes the request, writes the new status with its time column, and
records the change's timeline event and audit entries, in the caller's transaction.
A request's first status is written by the INSERT that creates it (queued, received
or draft); every later one comes through ``apply``.

Changes that move no status (a receipt of a follow-up, a deadline escalation, an
erasure) are recorded through the same path, so the timeline and the audit log are
written in one way.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from ..core.audit_entry import encode_entry
from ..core.canonical import format_time
from ..core.errors import Conflict
from ..core.lifecycle import Event, Status, transition
from . import audit
from .sql import chunks, insert_rows, marks

# The column that keeps when a request first reached a status.
TIME_COLUMN = {
    Status.DELIVERED: "delivered_at",
    Status.ACKNOWLEDGED: "acknowledged_at",
    Status.ANSWERED: "answered_at",
    Status.CLOSED: "closed_at",
    Status.REJECTED: "rejected_at",
}
INSERT_EVENTS = "INSERT INTO events (request_id, at, event, actor, detail) VALUES "


@dataclass(frozen=True)
class Entry:
    """An audit entry to append with the change."""

    action: str
    actor: str
    fields: Mapping[str, object]


@dataclass(frozen=True)
class Change:
    """One change to one request.

    ``event`` None records without moving the status. ``late_ok``: an event the status
    has already passed (a receipt after the answer, say) is recorded and moves nothing,
    instead of being refused with ``Conflict``. The status's time column keeps ``now``:
    for a peer's follow-up, the time it reached us (its signed time stays in the message).
    """

    request_id: str
    status: Status
    event: Event | None = None
    timeline: str | None = None
    actor: str | None = None
    detail: Mapping[str, object] = field(default_factory=dict)
    entries: Sequence[Entry] = ()
    late_ok: bool = False

    def target(self) -> Status:
        if self.event is None:
            return self.status
        try:
            return transition(self.status, self.event)
        except Conflict:
            if self.late_ok:
                return self.status
            raise


def apply(
    conn: sqlite3.Connection, changes: Sequence[Change], *, me: str, now: datetime
) -> list[Status]:
    """Write ``changes`` inside the caller's transaction; returns each request's status
    after its change. Set-based: one UPDATE per new status and time, one INSERT of
    timeline events, one of audit entries, however many changes there are."""
    if not conn.in_transaction:
        raise RuntimeError("a status changes inside the action's transaction")
    targets = [change.target() for change in changes]  # every rule checked before a write
    moves: dict[Status, list[str]] = {}
    for change, new in zip(changes, targets, strict=True):
        if new is not change.status:
            moves.setdefault(new, []).append(change.request_id)
    for new, request_ids in moves.items():
        _write_status(conn, new, now, request_ids)
    at = format_time(now)
    insert_rows(
        conn,
        INSERT_EVENTS,
        [
            (c.request_id, at, c.timeline, c.actor, json.dumps(dict(c.detail), sort_keys=True))
            for c in changes
            if c.timeline is not None
        ],
    )
    entries = [
        encode_entry(at=now, authority=me, action=e.action, actor=e.actor, fields=dict(e.fields))
        for c in changes
        for e in c.entries
    ]
    if entries:
        audit.append_all(conn, entries)
    return targets


def _write_status(
    conn: sqlite3.Connection, new: Status, moved_at: datetime, request_ids: list[str]
) -> None:
    # The deadline sweep looks at a request again whenever its status moves.
    sql = "UPDATE requests SET status = ?, updated_at = ?, deadline_check_at = NULL"
    column = TIME_COLUMN.get(new)
    if column is not None:  # a fixed column name from the table above
        sql += f", {column} = COALESCE({column}, ?)"
    when = format_time(moved_at)
    params: tuple[object, ...] = (new.value, when) + ((when,) if column else ())
    for ids in chunks(request_ids):
        conn.execute(sql + f" WHERE id IN ({marks(len(ids))})", (*params, *ids))
