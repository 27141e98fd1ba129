"""Receipts of what we sent, recorded in set-based statements per transaction."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from ..core.canonical import sha256_hex
from ..core.errors import NotFound
from ..core.lifecycle import Event, Status
from . import sharing
from .db import fetch_all, transaction
from .sql import chunks, marks
from .transitions import Change, Entry, apply


def store_receipts(
    conn: sqlite3.Connection, *, me: str, receipts: Sequence[tuple[str, bytes]], now: datetime
) -> int:
    """Record the verified receipts of one transaction; returns how many were new.

    Set-based statements, whatever the number of receipts: a join reads the
    messages with their requests and outbox rows, then one UPDATE per table and
    one multi-row INSERT of events and of audit entries. (It was a dozen statements
    per receipt, each handing the interpreter lock to the event loop and back.) A
    receipt already recorded changes nothing; a message we never sent fails the
    whole batch (``NotFound``), so all of it stays pending.
    """
    wanted = dict(receipts)  # one receipt per message id
    if not wanted:
        return 0
    with transaction(conn):
        found: dict[str, dict[str, Any]] = {}
        for ids in chunks(list(wanted)):
            sql = _SELECT_SENT + f" AND m.msg_id IN ({marks(len(ids))})"
            found.update((row["msg_id"], row) for row in fetch_all(conn, sql, (me, *ids)))
            # The envelope is dropped once receipted: it is ciphertext only the peer
            # can open, of no use here, and a liability should its key ever leak.
            sql = _OUTBOX_DONE + f" WHERE msg_id IN ({marks(len(ids))})"
            conn.execute(sql, ids)
        missing = {m: raw for m, raw in wanted.items() if m not in found}
        if missing:  # a case message of ours (store/sharing.py), or none at all
            ours = sharing.delivered(conn, me=me, receipts=missing, now=now)
            if len(ours) != len(missing):
                raise NotFound("no such message")
            wanted = {m: raw for m, raw in wanted.items() if m in found}
        new = [(found[msg_id], raw) for msg_id, raw in wanted.items()]
        new = [(row, raw) for row, raw in new if not row["receipted"]]
        for part in chunks([(row["id"], raw.decode()) for row, raw in new]):
            sql = _SET_RECEIPTS.format(values=marks(len(part), width=2))
            conn.execute(sql, [value for pair in part for value in pair])
        apply(conn, [_delivered(row, raw) for row, raw in new], me=me, now=now)
        return len(new)


def _delivered(row: dict[str, Any], raw: bytes) -> Change:
    """A receipt recorded: a request moves to delivered (a late receipt moves nothing
    back); the timeline and the audit log get the sending and the delivery."""
    detail = {"msg_id": row["msg_id"], "type": row["type"], "receipt_sha256": sha256_hex(raw)}
    common = {"request_id": row["request_id"], "peer": row["recipient"]}
    attempt = int(row["attempts"] or 0) + 1
    sent = {**common, "msg_id": row["msg_id"], "type": row["type"], "attempt": attempt}
    return Change(
        row["request_id"],
        Status(row["status"]),
        Event.DELIVER if row["type"] == "request" else None,
        timeline="delivered",
        detail=detail,
        entries=[
            Entry("request_sent", "system", sent),
            Entry("request_delivered", "system", common | detail),
        ],
        late_ok=True,
    )


_SELECT_SENT = """SELECT m.id, m.msg_id, m.receipt IS NOT NULL AS receipted, m.request_id,
       m.type, m.recipient, r.status, o.attempts
    FROM messages m JOIN requests r ON r.id = m.request_id
    LEFT JOIN outbox o ON o.msg_id = m.msg_id
    WHERE m.sender = ?"""

_OUTBOX_DONE = "UPDATE outbox SET state = 'done', envelope = X'', last_error = NULL"

_SET_RECEIPTS = """UPDATE messages SET receipt = v.column2
    FROM (VALUES {values}) AS v WHERE messages.id = v.column1"""
