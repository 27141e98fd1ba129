"""Signed refusals of what we sent: kept, and recorded in the request's timeline and
the audit log through ``transitions.apply`` (they move no status: giving up does)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from ..core.canonical import format_time, sha256_hex
from ..core.lifecycle import Status
from . import sharing
from .db import fetch_all, fetch_one, transaction
from .transitions import Change, Entry, apply


@dataclass(frozen=True)
class PeerRefusal:
    """A refusal a peer signed for one of our messages (verified by the sender)."""

    msg_id: str
    peer: str
    code: str
    refused_at: datetime
    refusal: bytes


@dataclass(frozen=True)
class RefusalRow:
    msg_id: str
    peer: str
    code: str
    refused_at: str
    refusal: str
    recorded_at: str


def store_refusals(
    conn: sqlite3.Connection, *, me: str, refusals: Sequence[PeerRefusal], now: datetime
) -> int:
    """Keep each refusal of a message of ours once per code; returns how many were new.
    A new one goes in the request's timeline (``refused``) and the audit log
    (``delivery_refused``)."""
    changes = []
    kept = 0  # refusals of our case messages (store/sharing.py)
    with transaction(conn):
        for refusal in refusals:
            msg = fetch_one(
                conn,
                "SELECT m.request_id, r.status FROM messages m"
                " JOIN requests r ON r.id = m.request_id WHERE m.sender = ? AND m.msg_id = ?",
                (me, refusal.msg_id),
            )
            if msg is None:
                kept += sharing.refused(
                    conn,
                    me=me,
                    msg_id=refusal.msg_id,
                    peer=refusal.peer,
                    code=refusal.code,
                    refused_at=refusal.refused_at,
                    refusal=refusal.refusal,
                    now=now,
                )
                continue
            added = conn.execute(
                """INSERT OR IGNORE INTO refusals (msg_id, peer, code, refused_at, refusal,
                   recorded_at) VALUES (?, ?, ?, ?, ?, ?)""",
                (
                    refusal.msg_id,
                    refusal.peer,
                    refusal.code,
                    format_time(refusal.refused_at),
                    refusal.refusal.decode(),
                    format_time(now),
                ),
            )
            if not added.rowcount:
                continue
            detail = {
                "msg_id": refusal.msg_id,
                "code": refusal.code,
                "refusal_sha256": sha256_hex(refusal.refusal),
            }
            fields = {"request_id": msg["request_id"], "peer": refusal.peer, **detail}
            changes.append(
                Change(
                    msg["request_id"],
                    Status(msg["status"]),
                    timeline="refused",
                    actor=refusal.peer,
                    detail=detail,
                    entries=[Entry("delivery_refused", "system", fields)],
                )
            )
        apply(conn, changes, me=me, now=now)
    return len(changes) + kept


def refusals_of(conn: sqlite3.Connection, msg_id: str) -> list[RefusalRow]:
    """The refusals kept for one of our messages, oldest first."""
    rows = fetch_all(
        conn,
        """SELECT msg_id, peer, code, refused_at, refusal, recorded_at FROM refusals
           WHERE msg_id = ? ORDER BY id""",
        (msg_id,),
    )
    return [RefusalRow(**row) for row in rows]
