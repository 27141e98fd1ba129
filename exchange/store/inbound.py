"""Envelopes from peers, stored exactly once: a new request, or a follow-up of a
request we sent (only from the authority it went to)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from ..core.canonical import format_time, parse_time, sha256_hex
from ..core.errors import ExchangeError, NotFound, Replay
from ..core.lifecycle import Status, check_follow_up, check_follow_up_time
from ..core.vault import Vault
from . import evidence as evidence_store
from .db import fetch_one, transaction
from .messages import INSERT_MESSAGES, IncomingMessage, message_row
from .requests import FOLLOW_UP_EVENTS
from .rows import REQUEST_COLUMNS, RequestRow
from .sql import insert_rows
from .transitions import Change, Entry, apply


@dataclass(frozen=True)
class Arrival:
    """An accepted envelope ready to store: the message, the id its request would
    get, and its deadline plan (state, next check) with the check time."""

    message: IncomingMessage
    new_request_id: str
    deadline_plan: tuple[str, str] | None
    check_at: datetime | None


def receive_all(
    conn: sqlite3.Connection,
    vault: Vault,
    *,
    me: str,
    arrivals: Sequence[Arrival],
    now: datetime,
) -> list[bytes | ExchangeError]:
    """``receive`` for each arrival, in one transaction; each in its own savepoint, so a
    refused one (a replay) changes nothing and the others are stored. A storage fault
    fails them all."""
    results: list[bytes | ExchangeError] = []
    if not arrivals:
        return results
    with transaction(conn):
        for arrival in arrivals:
            try:
                receipt = receive(
                    conn,
                    vault,
                    me=me,
                    message=arrival.message,
                    new_request_id=arrival.new_request_id,
                    now=now,
                    deadline_plan=arrival.deadline_plan,
                )
            except ExchangeError as exc:
                results.append(exc)
            else:
                results.append(receipt)
    return results


def receive(
    conn: sqlite3.Connection,
    vault: Vault,
    *,
    me: str,
    message: IncomingMessage,
    new_request_id: str,
    now: datetime,
    deadline_plan: tuple[str, str] | None = None,
) -> bytes:
    """Store an accepted message exactly once; returns the receipt to answer with.

    A duplicate (same sender, message id and envelope hash) changes nothing and
    gets the receipt issued the first time; the same id with other bytes is a replay.
    """
    with transaction(conn):
        seen = fetch_one(
            conn,
            "SELECT envelope_sha256, receipt FROM messages WHERE sender = ? AND msg_id = ?",
            (message.sender, message.msg_id),
        )
        if seen is not None:
            if seen["envelope_sha256"] != message.envelope_sha256:
                raise Replay("this message id was already used for another envelope")
            return str(seen["receipt"]).encode()
        if message.type == "request":
            request_id = _insert_incoming_request(
                conn, me, message, new_request_id, now, deadline_plan
            )
            status, event, action, name = Status.RECEIVED, None, "request_received", "received"
        else:
            row = _thread_of(conn, me, message, arrived_at=now)
            request_id, status, event = row.id, row.status, FOLLOW_UP_EVENTS[message.type]
            action, name = "message_received", message.type
        kept = message_row(vault, request_id, message.sender, me, message, message.receipt)
        insert_rows(conn, INSERT_MESSAGES, [kept])
        evidence_store.record_received(
            conn, vault, message.content, sender=message.sender, msg_id=message.msg_id, now=now
        )
        fields = {
            "request_id": request_id,
            "msg_id": message.msg_id,
            "type": message.type,
            "peer": message.sender,
            "envelope_sha256": message.envelope_sha256,
            "receipt_sha256": sha256_hex(message.receipt),
        }
        change = Change(
            request_id,
            status,
            event,
            timeline=name,
            actor=message.sender,
            detail={"msg_id": message.msg_id},
            entries=[Entry(action, message.sender, fields)],
        )  # the status's time is our arrival: the peer's signed time stays in the message
        apply(conn, [change], me=me, now=now)
        return message.receipt


def _insert_incoming_request(
    conn: sqlite3.Connection,
    me: str,
    message: IncomingMessage,
    request_id: str,
    now: datetime,
    plan: tuple[str, str] | None,
) -> str:
    meta = message.content
    conn.execute(
        """INSERT INTO requests (id, origin, msg_id, direction, counterpart, kind, urgency,
           language, status, created_at, updated_at, deadline, deadline_state,
           deadline_check_at)
           VALUES (?, ?, ?, 'in', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
        (
            request_id,
            message.sender,
            message.msg_id,
            message.sender,
            meta["kind"],
            meta["urgency"],
            meta["language"],
            Status.RECEIVED.value,
            format_time(message.created_at),
            format_time(now),
            meta.get("deadline"),
            *(plan or (None, None)),
        ),
    )
    return request_id


def _thread_of(
    conn: sqlite3.Connection, me: str, message: IncomingMessage, *, arrived_at: datetime
) -> RequestRow:
    """The request a peer's follow-up refers to, if that peer may follow it up, at the
    time it signed."""
    ref = message.content["in_reply_to"]
    found = fetch_one(
        conn,
        f"SELECT {REQUEST_COLUMNS} FROM requests WHERE origin = ? AND msg_id = ?",  # noqa: S608 (fixed column names)
        (ref["origin"], ref["msg_id"]),
    )
    if found is None:
        raise NotFound("the message refers to a request this node does not know")
    row = RequestRow.of(found)
    check_follow_up(
        direction=row.direction,
        origin=row.origin,
        counterpart=row.counterpart,
        sender=message.sender,
        me=me,
    )
    check_follow_up_time(
        signed_at=message.created_at,
        request_at=parse_time(row.created_at),
        arrived_at=arrived_at,
    )
    return row
