"""Envelopes from peers, stored exactly once: a new request, or a follow-up of a
request we sent (only from the authority it went to)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from ..core import ids
from ..core.canonical import format_time, parse_time, sha256_hex
from ..core.cases import IMPLICIT
from ..core.errors import ExchangeError, NotFound, Replay
from ..core.lifecycle import (
    Event,
    Status,
    check_follow_up,
    check_follow_up_time,
    check_message,
)
from ..core.sharing import CASE_TYPES, case_ref, files_into
from ..core.vault import Vault
from . import audit, case_inbound, sharing
from . import evidence as evidence_store
from .cases import NewCase, insert_case
from .conversation import check_stored, check_transferred_in, detail_of, set_holder
from .db import fetch_one, transaction
from .messages import INSERT_MESSAGES, IncomingMessage, message_row
from .rows import REQUEST_COLUMNS, RequestRow
from .sql import chunks, insert_rows, marks
from .transitions import Change, Entry, apply


@dataclass(frozen=True)
class Arrival:
    """An accepted envelope ready to store: the message, the id its request would
    get, and its deadline plan (state, next check) with the check time."""

    message: IncomingMessage
    new_request_id: str
    deadline_plan: tuple[str, str] | None
    check_at: datetime | None


# Signs the receipts of the messages just stored, one per message, in order.
IssueReceipts = Callable[[Sequence[IncomingMessage]], list[bytes]]


@dataclass(frozen=True)
class _Stored:
    """A message stored in this job, still without its receipt: the audit entry that
    names the receipt's hash waits for it."""

    message: IncomingMessage
    request_id: str
    status: Status
    action: str
    case: case_inbound.Received | None = None  # a case message (store/sharing.py)


def receive_all(
    conn: sqlite3.Connection,
    vault: Vault,
    *,
    me: str,
    arrivals: Sequence[Arrival],
    now: datetime,
    issue: IssueReceipts,
) -> list[bytes | ExchangeError]:
    """Store each arrival exactly once, then receipt what was stored, in one transaction.

    Storage decides first: each arrival in its own savepoint, so a refused one (a
    replay, a follow-up of an unknown request or from the wrong party) changes nothing
    and the others are stored. Then ``issue`` signs the receipts of the messages stored
    now (one batch), and only of those: a refused envelope never has a receipt. A
    duplicate of a message stored earlier gets the receipt issued the first time. The
    receipts are written with their messages and audit entries before the commit. A
    storage fault fails them all.
    """
    results: list[bytes | ExchangeError | _Stored | int] = []
    if not arrivals:
        return []
    with transaction(conn):
        fresh: dict[tuple[str, str], int] = {}  # stored in this job: where, in ``results``
        for arrival in arrivals:
            message = arrival.message
            try:
                outcome = _store(conn, vault, me=me, arrival=arrival, now=now)
            except ExchangeError as exc:
                results.append(exc)
                continue
            if isinstance(outcome, _Stored):
                fresh[(message.sender, message.msg_id)] = len(results)
                results.append(outcome)
            elif outcome:
                results.append(outcome)
            else:  # a duplicate of one stored in this job: it gets that one's receipt
                results.append(fresh[(message.sender, message.msg_id)])
        stored = [r for r in results if isinstance(r, _Stored)]
        signed = issue([s.message for s in stored]) if stored else []
        receipts = dict(zip(map(id, stored), signed, strict=True))
        _record_receipts(conn, me=me, stored=stored, receipts=receipts, now=now)

    def final(result: bytes | ExchangeError | _Stored | int) -> bytes | ExchangeError:
        if isinstance(result, int):
            result = results[result]
        if isinstance(result, _Stored):
            return receipts[id(result)]
        if isinstance(result, int):
            raise TypeError("a duplicate points at the message stored first")
        return result

    return [final(result) for result in results]


def receive(
    conn: sqlite3.Connection,
    vault: Vault,
    *,
    me: str,
    arrival: Arrival,
    now: datetime,
    issue: IssueReceipts,
) -> bytes:
    """Store one accepted message exactly once; returns the receipt to answer with.

    A duplicate (same sender, message id and envelope hash) changes nothing and
    gets the receipt issued the first time; the same id with other bytes is a replay.
    """
    (result,) = receive_all(conn, vault, me=me, arrivals=[arrival], now=now, issue=issue)
    if isinstance(result, ExchangeError):
        raise result
    return result


def _store(
    conn: sqlite3.Connection, vault: Vault, *, me: str, arrival: Arrival, now: datetime
) -> _Stored | bytes:
    """Store one message without its receipt, or find it stored already: its receipt
    (empty when it was stored earlier in this job). Raises the refusal's error, having
    changed nothing."""
    message = arrival.message
    with transaction(conn):
        seen = fetch_one(
            conn,
            "SELECT envelope_sha256, receipt FROM messages WHERE sender = ? AND msg_id = ?",
            (message.sender, message.msg_id),
        ) or case_inbound.seen(conn, message.sender, message.msg_id)
        if seen is not None:
            if seen["envelope_sha256"] != message.envelope_sha256:
                raise Replay("this message id was already used for another envelope")
            return str(seen["receipt"] or "").encode()
        if message.type in CASE_TYPES:
            case = case_inbound.receive(conn, vault, me=me, message=message, now=now)
            return _Stored(message, case.case_id, Status.RECEIVED, case.action, case)
        detail: dict[str, object] = {"msg_id": message.msg_id}
        if message.type == "request":
            request_id = _insert_incoming_request(
                conn, vault, me, message, arrival.new_request_id, now, arrival.deadline_plan
            )
            status, event, action, name = Status.RECEIVED, None, "request_received", "received"
            if "transfer" in message.content:
                detail["transferred_by"] = message.sender
        else:
            row, event = _thread_of(conn, me, message, arrived_at=now)
            request_id, status = row.id, row.status
            action, name = "message_received", message.type
            detail |= detail_of(message.type, message.content)
            if message.type == "transfer":
                set_holder(conn, row.id, message.content["to"])
        kept = message_row(vault, request_id, message.sender, me, message, None)
        insert_rows(conn, INSERT_MESSAGES, [kept])
        evidence_store.record_received(
            conn, vault, message.content, sender=message.sender, msg_id=message.msg_id, now=now
        )
        change = Change(
            request_id,
            status,
            event,
            timeline=name,
            actor=message.sender,
            detail=detail,
        )  # the status's time is our arrival: the peer's signed time stays in the message
        (after,) = apply(conn, [change], me=me, now=now)
        return _Stored(message, request_id, after, action)


def _record_receipts(
    conn: sqlite3.Connection,
    *,
    me: str,
    stored: Sequence[_Stored],
    receipts: dict[int, bytes],
    now: datetime,
) -> None:
    """The receipts of the messages stored in this job, set-based, with the audit
    entries that name them (recorded through ``apply``, moving no status)."""
    _record_case_receipts(conn, me=me, stored=stored, receipts=receipts, now=now)
    stored = [s for s in stored if s.case is None]
    rows = [(s.message.sender, s.message.msg_id, receipts[id(s)].decode()) for s in stored]
    for part in chunks(rows):
        sql = _SET_RECEIPTS.format(values=marks(len(part), width=3))
        conn.execute(sql, [value for row in part for value in row])
    changes = [
        Change(
            s.request_id,
            s.status,
            entries=[
                Entry(
                    s.action,
                    s.message.sender,
                    {
                        "request_id": s.request_id,
                        "msg_id": s.message.msg_id,
                        "type": s.message.type,
                        "peer": s.message.sender,
                        "envelope_sha256": s.message.envelope_sha256,
                        "receipt_sha256": sha256_hex(receipts[id(s)]),
                    },
                )
            ],
        )
        for s in stored
    ]
    apply(conn, changes, me=me, now=now)


def _record_case_receipts(
    conn: sqlite3.Connection,
    *,
    me: str,
    stored: Sequence[_Stored],
    receipts: dict[int, bytes],
    now: datetime,
) -> None:
    """Case messages stored in this job: their receipts and audit entries."""
    cases = [s for s in stored if s.case is not None]
    case_inbound.set_receipts(
        conn, [(s.message.sender, s.message.msg_id, receipts[id(s)].decode()) for s in cases]
    )
    for s in cases:
        if s.case is None:
            continue
        audit.append(
            conn,
            at=now,
            authority=me,
            action=s.action,
            actor=s.message.sender,
            case_id=s.case.case_id,
            msg_id=s.message.msg_id,
            peer=s.message.sender,
            envelope_sha256=s.message.envelope_sha256,
            receipt_sha256=sha256_hex(receipts[id(s)]),
            **s.case.detail,
        )


_SET_RECEIPTS = """UPDATE messages SET receipt = v.column3
    FROM (VALUES {values}) AS v WHERE messages.sender = v.column1 AND messages.msg_id = v.column2"""


def _insert_incoming_request(
    conn: sqlite3.Connection,
    vault: Vault,
    me: str,
    message: IncomingMessage,
    request_id: str,
    now: datetime,
    plan: tuple[str, str] | None,
) -> str:
    meta = message.content
    origin, msg_id = message.sender, message.msg_id
    if "transfer" in meta:  # held as the original request, answered to its requester
        check_transferred_in(conn, meta["transfer"], sender=message.sender, me=me)
        origin, msg_id = meta["transfer"]["origin"], meta["transfer"]["msg_id"]
    case_id = _shared_case(conn, me, message)
    if case_id is None:
        # Filed in a case of its own on this node: an implicit case, opened by no user
        # of ours, that only the liaison prosecutors see.
        case = NewCase(ids.request_id(), IMPLICIT, created_by=None, now=now, implicit=True)
        insert_case(conn, vault, case)
        case_id = case.id
    conn.execute(
        """INSERT INTO requests (id, origin, msg_id, direction, counterpart, kind, urgency,
           language, status, created_at, updated_at, deadline, deadline_state,
           deadline_check_at, case_id)
           VALUES (?, ?, ?, 'in', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
        (
            request_id,
            origin,
            msg_id,
            origin,
            meta["kind"],
            meta["urgency"],
            meta["language"],
            Status.RECEIVED.value,
            format_time(message.created_at),
            format_time(now),
            meta.get("deadline"),
            *(plan or (None, None)),
            case_id,
        ),
    )
    return request_id


def _shared_case(conn: sqlite3.Connection, me: str, message: IncomingMessage) -> str | None:
    """A request naming a shared case goes into our copy when we and its sender are
    both members (``core/sharing.files_into``); otherwise None: an implicit case (the
    ``case`` field stays in its signed content)."""
    if "case" not in message.content:
        return None
    ref = case_ref(message.content["case"])
    held, theirs = sharing.member_state(conn, ref, message.sender)
    if held is None:
        return None
    _, mine = sharing.member_state(conn, ref, me)
    return held if files_into(sender=message.sender, mine=mine, theirs=theirs) else None


def _thread_of(
    conn: sqlite3.Connection, me: str, message: IncomingMessage, *, arrived_at: datetime
) -> tuple[RequestRow, Event | None]:
    """The request a peer's follow-up refers to, if that peer may send this message
    about it now, at the time it signed; and the message's event."""
    ref = message.content["in_reply_to"]
    found = fetch_one(
        conn,
        f"SELECT {REQUEST_COLUMNS} FROM requests WHERE origin = ? AND msg_id = ?",  # noqa: S608 (fixed column names)
        (ref["origin"], ref["msg_id"]),
    )
    if found is None:
        raise NotFound("the message refers to a request this node does not know")
    row = RequestRow.of(found)
    party = check_follow_up(
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
    event = check_message(
        message.type, party=party, direction=row.direction, status=row.status, kind=row.kind
    )
    check_stored(
        conn,
        row,
        message.type,
        message.content,
        party=party,
        sender=message.sender,
        me=me,
        now=arrived_at,
    )
    return row, event
