"""Requests: created and queued, read, followed up by us, closed. Every function is
one transaction that also appends its audit entries (no action without its entry);
every status change goes through ``transitions.apply``."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..core.audit_entry import encode_entry
from ..core.canonical import format_time
from ..core.errors import NotFound
from ..core.lifecycle import Event, Status, check_message, own_party
from ..core.vault import Vault
from . import audit
from . import cases as case_store
from . import evidence as evidence_store
from .conversation import check_stored, detail_of
from .db import fetch_one, transaction
from .messages import (
    INSERT_MESSAGES,
    INSERT_OUTBOX,
    OutgoingMessage,
    insert_outgoing,
    message_row,
    outbox_row,
)
from .rows import REQUEST_COLUMNS, RequestRow
from .sql import insert_rows
from .transitions import INSERT_EVENTS, Change, Entry, apply

# The audit action of each message we send about a request (peers' are all
# ``message_received``, with their type).
SENT_ACTION = {
    "acknowledgement": "request_acknowledged",
    "response": "request_answered",
    "rejection": "request_rejected",
    "clarification_request": "clarification_requested",
    "clarification": "clarification_given",
    "partial_response": "request_partially_answered",
    "transfer": "request_transferred",
    "withdrawal": "request_withdrawn",
    "reminder": "reminder_sent",
    "consent_request": "consent_requested",
    "consent": "consent_answered",
}
AUDIT_ACTION = {Event.CLOSE: "request_closed"}


@dataclass(frozen=True)
class NewRequest:
    """A sealed request to store and queue. ``deadline_plan`` is (state, next check),
    so the deadline scheduler needs no write now."""

    request_id: str
    message: OutgoingMessage
    actor: str
    now: datetime
    attachment_ids: Sequence[str] = ()
    deadline_plan: tuple[str, str] | None = None
    # the case it is filed in: an existing one of the actor's (checked in the
    # transaction), or ``new_case``, opened with it
    case_id: str | None = None
    new_case: case_store.NewCase | None = None
    group_id: str | None = None  # one request of several created together


def create_request(
    conn: sqlite3.Connection,
    vault: Vault,
    *,
    me: str,
    request_id: str,
    message: OutgoingMessage,
    actor: str,
    now: datetime,
    attachment_ids: Sequence[str] = (),
    deadline_plan: tuple[str, str] | None = None,
) -> None:
    new = NewRequest(request_id, message, actor, now, attachment_ids, deadline_plan)
    (outcome,) = create_requests(conn, [new], vault=vault, me=me)
    if outcome is not None:
        raise outcome


def create_requests(
    conn: sqlite3.Connection, items: list[NewRequest], *, vault: Vault, me: str
) -> list[BaseException | None]:
    """New requests in one transaction of multi-row INSERTs (one per table), whatever
    their number: request rows, messages (contents encrypted at rest), outbox entries,
    timeline events and audit entries. All or nothing: with
    ``Database.run_batched`` a failure reruns each request alone."""
    requests: list[Any] = []
    queued = [
        queued_rows(
            vault, me, item.request_id, item.message, item.actor, item.now, case_id=item.case_id
        )
        for item in items
    ]
    with transaction(conn):
        for item in items:
            file_in_case(conn, vault, item.case_id, item.new_case, actor=item.actor)
            if item.attachment_ids:
                evidence_store.attach(
                    conn,
                    list(item.attachment_ids),
                    msg_id=item.message.msg_id,
                    peer=item.message.recipient,
                )
            meta, at = item.message.content, format_time(item.now)
            requests.append(
                (
                    item.request_id, me, item.message.msg_id, "out", item.message.recipient,
                    meta["kind"], meta["urgency"], meta["language"], Status.QUEUED.value,
                    item.actor, at, at, meta.get("deadline"), *(item.deadline_plan or (None, None)),
                    item.case_id, item.group_id,
                )
            )  # fmt: skip
        insert_rows(conn, _INSERT_REQUESTS, requests)
        insert_queued(conn, queued)
    return [None] * len(items)


@dataclass(frozen=True)
class _Queued:
    """What queueing one sealed message writes, encoded before the statements run."""

    message: tuple[Any, ...]
    outbox: tuple[Any, ...]
    events: list[tuple[Any, ...]]
    entry: bytes


def file_in_case(
    conn: sqlite3.Connection,
    vault: Vault,
    case_id: str | None,
    new_case: case_store.NewCase | None,
    *,
    actor: str,
) -> None:
    """Open the request's new case, or check that it may join ``case_id``."""
    if new_case is not None:
        case_store.insert_case(conn, vault, new_case)
    elif case_id is not None:
        case_store.check_filing(conn, case_id, actor=actor)


def queued_rows(
    vault: Vault,
    me: str,
    request_id: str,
    message: OutgoingMessage,
    actor: str,
    now: datetime,
    *,
    case_id: str | None = None,
) -> _Queued:
    meta, at = message.content, format_time(now)
    outbox = outbox_row(message)
    events = [
        (request_id, at, "created", actor, json.dumps({"msg_id": message.msg_id})),
        (request_id, at, "queued", actor, json.dumps({"to": message.recipient})),
    ]
    # One entry: the request was created, sealed and queued in this transaction.
    # (Logs written before 2026-11 hold a separate ``request_queued`` entry too.)
    entry = encode_entry(
        at=now,
        authority=me,
        action="request_created",
        actor=actor,
        fields={
            "kind": meta["kind"],
            "urgency": meta["urgency"],
            "request_id": request_id,
            "msg_id": message.msg_id,
            "peer": message.recipient,
            "envelope_sha256": message.envelope_sha256,
        }
        | ({"case_id": case_id} if case_id is not None else {}),
    )
    row = message_row(vault, request_id, me, message.recipient, message, None)
    return _Queued(row, outbox, events, entry)


def insert_queued(conn: sqlite3.Connection, queued: list[_Queued]) -> None:
    insert_rows(conn, INSERT_MESSAGES, [q.message for q in queued])
    insert_rows(conn, INSERT_OUTBOX, [q.outbox for q in queued])
    insert_rows(conn, INSERT_EVENTS, [event for q in queued for event in q.events])
    audit.append_all(conn, [q.entry for q in queued])


_INSERT_REQUESTS = """INSERT INTO requests (id, origin, msg_id, direction, counterpart, kind,
    urgency, language, status, created_by, created_at, updated_at, deadline, deadline_state,
    deadline_check_at, case_id, group_id) VALUES """


def queue(
    conn: sqlite3.Connection,
    vault: Vault,
    me: str,
    request_id: str,
    message: OutgoingMessage,
    actor: str,
    now: datetime,
    *,
    case_id: str | None = None,
) -> None:
    """The sealed request joins the outbox, with its events and audit entry."""
    queued = queued_rows(vault, me, request_id, message, actor, now, case_id=case_id)
    insert_queued(conn, [queued])


def add_follow_up(
    conn: sqlite3.Connection,
    vault: Vault,
    *,
    me: str,
    request_id: str,
    message: OutgoingMessage,
    actor: str,
    now: datetime,
    attachment_ids: list[str] | tuple[str, ...] = (),
    forwarded: OutgoingMessage | None = None,
) -> None:
    """Our message about a request, by our side's rules (``check_message``); a
    transfer queues the request ``forwarded`` to its new holder with the notice."""
    with transaction(conn):
        evidence_store.attach(
            conn, list(attachment_ids), msg_id=message.msg_id, peer=message.recipient
        )
        row = request_row(conn, request_id)
        party = own_party(row.direction)
        event = check_message(
            message.type, party=party, direction=row.direction, status=row.status, kind=row.kind
        )
        check_stored(
            conn, row, message.type, message.content, party=party, sender=me, me=me, now=now
        )
        insert_outgoing(conn, vault, me, request_id, message)
        extra = detail_of(message.type, message.content)
        if forwarded is not None:
            insert_outgoing(conn, vault, me, request_id, forwarded)
            extra["forwarded_msg_id"] = forwarded.msg_id
        fields = {
            "request_id": request_id,
            "msg_id": message.msg_id,
            "peer": message.recipient,
            "envelope_sha256": message.envelope_sha256,
        }
        change = Change(
            request_id,
            row.status,
            event,
            timeline=message.type,
            actor=actor,
            detail={"msg_id": message.msg_id, **extra},
            entries=[Entry(SENT_ACTION[message.type], actor, fields | extra)],
        )
        apply(conn, [change], me=me, now=now)


def close_request(
    conn: sqlite3.Connection, *, me: str, request_id: str, actor: str, now: datetime
) -> RequestRow:
    """Close an answered request: local bookkeeping (the peer is not told)."""
    with transaction(conn):
        row = request_row(conn, request_id)
        fields = {"request_id": request_id, "peer": row.counterpart}
        change = Change(
            request_id,
            row.status,
            Event.CLOSE,
            timeline="closed",
            actor=actor,
            entries=[Entry(AUDIT_ACTION[Event.CLOSE], actor, fields)],
        )
        apply(conn, [change], me=me, now=now)
        return request_row(conn, request_id)


# --- reads -----------------------------------------------------------------


def request_row(conn: sqlite3.Connection, request_id: str) -> RequestRow:
    row = fetch_one(conn, f"SELECT {REQUEST_COLUMNS} FROM requests WHERE id = ?", (request_id,))  # noqa: S608 (fixed column names)
    if row is None:
        raise NotFound("no such request")
    return RequestRow.of(row)
