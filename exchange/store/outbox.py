"""The outbox: sealed envelopes waiting for a receipt, one queue per peer."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..core.canonical import format_time, parse_time
from ..core.lifecycle import Event, Status
from . import audit
from .db import fetch_all, fetch_one, transaction
from .transitions import Change, Entry, apply


@dataclass(frozen=True)
class Pending:
    msg_id: str
    peer: str
    envelope: bytes
    envelope_sha256: str
    attempts: int
    expires_at: datetime
    # the hash of the evidence document sealed inside, which the receipt must name
    # (None for an envelope queued before migration 9: no receipt can prove it)
    evidence_sha256: str | None = None
    sealed_at: datetime | None = None  # when we sealed it (its header's created_at)
    # an attachment's file the peer has not confirmed yet (``evidence.to_upload``),
    # read in the same ask: most messages have none, and then need no job to find out
    blobs: bool = True


@dataclass(frozen=True)
class Due:
    """A peer's envelopes due now, up to a limit; when there were fewer, also when its
    next envelope not yet due falls due (None: nothing else waits), so the worker
    knows the peer's whole queue without asking about every peer's."""

    items: list[Pending]
    later: datetime | None = None


def due(conn: sqlite3.Connection, peer: str, now: datetime, limit: int, *, me: str) -> Due:
    """The peer's envelopes due now: emergencies first, then the rest by due time.

    An emergency request queued behind a backlog (a peer back after an outage) goes in
    the next transaction instead of after thousands of others.
    """
    at = format_time(now)
    rows = fetch_all(conn, _DUE_EMERGENCY, (me, peer, at, limit))
    if len(rows) < limit:
        rows += fetch_all(conn, _DUE_OTHERS, (me, peer, at, limit - len(rows)))
    later = None
    if len(rows) < limit:
        found = conn.execute(_LATER, (peer, at)).fetchone()
        later = parse_time(found[0]) if found and found[0] else None
    return Due(_pending(rows), later)


def _pending(rows: list[dict[str, Any]]) -> list[Pending]:
    return [
        Pending(
            r["msg_id"],
            r["peer"],
            bytes(r["envelope"]),
            r["envelope_sha256"],
            r["attempts"],
            parse_time(r["expires_at"]),
            r["evidence_sha256"],
            parse_time(r["sealed_at"]) if r["sealed_at"] else None,
            bool(r["blobs"]),
        )
        for r in rows
    ]


_COLUMNS = (
    "SELECT msg_id, peer, envelope, envelope_sha256, attempts, expires_at, evidence_sha256,"
    " (SELECT m.created_at FROM messages m WHERE m.sender = ? AND m.msg_id = outbox.msg_id)"
    " AS sealed_at, EXISTS (SELECT 1 FROM attachments a"
    " WHERE a.msg_id = outbox.msg_id AND a.uploaded = 0) AS blobs FROM outbox"
)
_DUE_WHERE = "WHERE state = 'pending' AND peer = ? AND next_attempt_at <= ?"
_ORDER = "ORDER BY next_attempt_at, msg_id LIMIT ?"
# The planner would rather scan every due row of the peer for the few emergencies.
_DUE_EMERGENCY = f"{_COLUMNS} INDEXED BY outbox_emergency {_DUE_WHERE} AND emergency = 1 {_ORDER}"
_DUE_OTHERS = f"{_COLUMNS} {_DUE_WHERE} AND emergency = 0 {_ORDER}"
_LATER = (
    "SELECT MIN(next_attempt_at) FROM outbox"
    " WHERE state = 'pending' AND peer = ? AND next_attempt_at > ?"
)


def due_now(conn: sqlite3.Connection, peer: str, now: datetime) -> int:
    """Bring the peer's pending messages forward to ``now`` (it is reachable again)."""
    cursor = conn.execute(
        "UPDATE outbox SET next_attempt_at = ?"
        " WHERE state = 'pending' AND peer = ? AND next_attempt_at > ?",
        (format_time(now), peer, format_time(now)),
    )
    return cursor.rowcount


def next_due(conn: sqlite3.Connection) -> dict[str, datetime]:
    """For each peer with pending messages, when the earliest one is due."""
    rows = conn.execute(
        "SELECT peer, MIN(next_attempt_at) FROM outbox WHERE state = 'pending' GROUP BY peer"
    ).fetchall()
    return {str(peer): parse_time(at) for peer, at in rows}


def backlog(conn: sqlite3.Connection) -> dict[str, int]:
    rows = conn.execute(
        "SELECT peer, COUNT(*) FROM outbox WHERE state = 'pending' GROUP BY peer"
    ).fetchall()
    return {str(peer): int(n) for peer, n in rows}


def retry_later(
    conn: sqlite3.Connection,
    msg_ids: list[str],
    *,
    error: str,
    at: datetime,
    me: str,
    peer: str,
    now: datetime,
) -> None:
    """A failed attempt: try again at ``at``. One audit entry per failed transaction."""
    with transaction(conn):
        attempts = 0
        for msg_id in msg_ids:
            row = conn.execute(
                """UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?, last_error = ?
                   WHERE msg_id = ? AND state = 'pending' RETURNING attempts""",
                (format_time(at), error, msg_id),
            ).fetchone()
            attempts = max(attempts, int(row[0]) if row else 0)
        audit.append(
            conn,
            at=now,
            authority=me,
            action="delivery_failed",
            actor="system",
            peer=peer,
            error=error,
            msg_ids=sorted(msg_ids),
            attempt=attempts,
            retry_at=format_time(at),
        )


def expire(conn: sqlite3.Connection, *, me: str, msg_id: str, error: str, now: datetime) -> None:
    """Give up on a message: past its expiry, or refused by the peer for good."""
    with transaction(conn):
        conn.execute(
            "UPDATE outbox SET state = 'expired', envelope = X'', last_error = ?"
            " WHERE msg_id = ? AND state = 'pending'",
            (error, msg_id),
        )
        msg = fetch_one(
            conn,
            "SELECT m.request_id, m.type, m.recipient, r.status FROM messages m"
            " JOIN requests r ON r.id = m.request_id WHERE m.sender = ? AND m.msg_id = ?",
            (me, msg_id),
        )
        if msg is None:
            return
        fields = {
            "request_id": msg["request_id"],
            "msg_id": msg_id,
            "peer": msg["recipient"],
            "error": error,
        }
        change = Change(
            msg["request_id"],
            Status(msg["status"]),
            # a request never delivered expires; a late one (already receipted, or a
            # follow-up of ours) keeps its status, and the failure is recorded
            Event.EXPIRE if msg["type"] == "request" else None,
            timeline="delivery_failed",
            detail={"error": error, "msg_id": msg_id},
            entries=[Entry("request_expired", "system", fields)],
            late_ok=True,
        )
        apply(conn, [change], me=me, now=now)
