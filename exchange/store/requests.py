"""Requests, their messages and timelines. Every function is one transaction
that also appends its audit entries (no action without its entry)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from ..core.audit_entry import encode_entry
from ..core.canonical import canonical_json, format_time, sha256_hex
from ..core.errors import Conflict, ExchangeError, NotFound, Replay
from ..core.lifecycle import Event, Status, transition
from ..core.vault import Vault
from . import audit
from . import evidence as evidence_store
from .db import fetch_all, fetch_one, transaction

FOLLOW_UP_EVENTS = {
    "acknowledgement": Event.ACKNOWLEDGE,
    "response": Event.ANSWER,
    "rejection": Event.REJECT,
}
_STATUS_TIME_COLUMN = {
    Status.DELIVERED: "delivered_at",
    Status.ACKNOWLEDGED: "acknowledged_at",
    Status.ANSWERED: "answered_at",
    Status.CLOSED: "closed_at",
    Status.REJECTED: "rejected_at",
}
_AUDIT_ACTION = {
    Event.ACKNOWLEDGE: "request_acknowledged",
    Event.ANSWER: "request_answered",
    Event.REJECT: "request_rejected",
    Event.CLOSE: "request_closed",
}


@dataclass(frozen=True)
class OutgoingMessage:
    """A sealed message of ours, ready to be stored and queued."""

    msg_id: str
    type: str
    recipient: str
    created_at: datetime
    content: dict[str, Any]
    envelope: bytes
    envelope_sha256: str
    expires_at: datetime
    content_json: bytes | None = None  # canonical bytes of ``content``, when already made
    emergency: bool = False  # leaves before the rest of the peer's backlog


@dataclass(frozen=True)
class IncomingMessage:
    """A verified, decrypted message from a peer, with the receipt we issued for it."""

    msg_id: str
    type: str
    sender: str
    created_at: datetime
    content: dict[str, Any]
    envelope_sha256: str
    evidence: dict[str, Any]
    receipt: bytes
    content_json: bytes | None = None  # canonical bytes of ``content``, when already made


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
        _queued_rows(vault, me, item.request_id, item.message, item.actor, item.now)
        for item in items
    ]
    with transaction(conn):
        for item in items:
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
                )
            )  # fmt: skip
        _insert_rows(conn, _INSERT_REQUESTS, requests)
        _insert_queued(conn, queued)
    return [None] * len(items)


@dataclass(frozen=True)
class _Queued:
    """What queueing one sealed message writes, encoded before the statements run."""

    message: tuple[Any, ...]
    outbox: tuple[Any, ...]
    events: list[tuple[Any, ...]]
    entry: bytes


def _queued_rows(
    vault: Vault, me: str, request_id: str, message: OutgoingMessage, actor: str, now: datetime
) -> _Queued:
    meta, at = message.content, format_time(now)
    outbox = _outbox_row(message)
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
        },
    )
    row = _message_row(vault, request_id, me, message.recipient, message, None)
    return _Queued(row, outbox, events, entry)


def _insert_queued(conn: sqlite3.Connection, queued: list[_Queued]) -> None:
    _insert_rows(conn, _INSERT_MESSAGES, [q.message for q in queued])
    _insert_rows(conn, _INSERT_OUTBOX, [q.outbox for q in queued])
    _insert_rows(conn, _INSERT_EVENTS, [event for q in queued for event in q.events])
    audit.append_all(conn, [q.entry for q in queued])


def _insert_rows(conn: sqlite3.Connection, insert: str, rows: list[tuple[Any, ...]]) -> None:
    """One multi-row INSERT per chunk (SQLite binds at most 32,766 values)."""
    if not rows:
        return
    width = len(rows[0])
    for part in _chunks(rows, 30_000 // width):
        conn.execute(insert + _marks(len(part), width=width), [v for row in part for v in row])


_INSERT_REQUESTS = """INSERT INTO requests (id, origin, msg_id, direction, counterpart, kind,
    urgency, language, status, created_by, created_at, updated_at, deadline, deadline_state,
    deadline_check_at) VALUES """
_INSERT_MESSAGES = """INSERT INTO messages (request_id, sender, recipient, msg_id, type,
    created_at, envelope_sha256, content_key, content, evidence, receipt) VALUES """
_INSERT_OUTBOX = """INSERT INTO outbox (msg_id, peer, envelope, envelope_sha256, state,
    next_attempt_at, expires_at, emergency) VALUES """


def _queue(
    conn: sqlite3.Connection,
    vault: Vault,
    me: str,
    request_id: str,
    message: OutgoingMessage,
    actor: str,
    now: datetime,
) -> None:
    """The sealed request joins the outbox, with its events and audit entry."""
    _insert_queued(conn, [_queued_rows(vault, me, request_id, message, actor, now)])


def save_draft(
    conn: sqlite3.Connection,
    vault: Vault,
    *,
    me: str,
    request_id: str,
    form: dict[str, Any],
    actor: str,
    now: datetime,
) -> None:
    """A request saved, not sent: its form sealed at rest, nothing in the outbox."""
    key, ciphertext = vault.seal(canonical_json(form), record=f"draft:{request_id}")
    with transaction(conn):
        conn.execute(
            """INSERT INTO requests (id, origin, msg_id, direction, counterpart, kind, urgency,
               language, status, created_by, created_at, updated_at)
               VALUES (?, ?, ?, 'out', ?, ?, ?, ?, ?, ?, ?, ?)""",
            (
                request_id,
                me,
                f"draft-{request_id}",
                form["to"],
                form["kind"],
                form["urgency"],
                form["language"],
                Status.DRAFT.value,
                actor,
                format_time(now),
                format_time(now),
            ),
        )
        conn.execute(
            "INSERT INTO drafts (request_id, content_key, content) VALUES (?, ?, ?)",
            (request_id, key, ciphertext),
        )
        evidence_store.keep_for_draft(
            conn, list(form.get("attachments") or []), owner=actor, draft_id=request_id
        )
        _draft_event(
            conn, me, request_id, now, actor, "drafted", action="request_drafted", peer=form["to"]
        )


def _draft_event(
    conn: sqlite3.Connection,
    me: str,
    request_id: str,
    now: datetime,
    actor: str,
    event: str,
    *,
    action: str,
    peer: str,
) -> None:
    """A draft's timeline event and its audit entry."""
    _event(conn, request_id, now, event, actor, {})
    audit.append(
        conn, at=now, authority=me, action=action, actor=actor, request_id=request_id, peer=peer
    )


def update_draft(
    conn: sqlite3.Connection,
    vault: Vault,
    *,
    me: str,
    request_id: str,
    form: dict[str, Any],
    actor: str,
    now: datetime,
) -> None:
    """Replace a draft's form (sealed anew) and the metadata the lists show."""
    key, ciphertext = vault.seal(canonical_json(form), record=f"draft:{request_id}")
    with transaction(conn):
        row = _request_row(conn, request_id)
        if row["status"] != Status.DRAFT:
            raise Conflict(f"the request is already {row['status']}")
        conn.execute(
            "UPDATE drafts SET content_key = ?, content = ? WHERE request_id = ?",
            (key, ciphertext, request_id),
        )
        evidence_store.keep_for_draft(
            conn, list(form.get("attachments") or []), owner=actor, draft_id=request_id
        )
        conn.execute(
            """UPDATE requests SET counterpart = ?, kind = ?, urgency = ?, language = ?,
               updated_at = ? WHERE id = ?""",
            (form["to"], form["kind"], form["urgency"], form["language"], format_time(now),
             request_id),
        )  # fmt: skip
        _draft_event(
            conn, me, request_id, now, actor, "draft_updated", action="draft_updated",
            peer=form["to"],
        )  # fmt: skip


def discard_draft(
    conn: sqlite3.Connection, *, me: str, request_id: str, actor: str, now: datetime
) -> None:
    """Delete a draft that was never sent: its sealed form, timeline and row. The audit
    log keeps that it existed and was discarded (ids only)."""
    with transaction(conn):
        row = _request_row(conn, request_id)
        if row["status"] != Status.DRAFT:
            raise Conflict(f"the request is already {row['status']}: only drafts are discarded")
        evidence_store.release_from_draft(conn, request_id)
        conn.execute("DELETE FROM drafts WHERE request_id = ?", (request_id,))
        conn.execute("DELETE FROM events WHERE request_id = ?", (request_id,))
        conn.execute("DELETE FROM requests WHERE id = ?", (request_id,))
        audit.append(
            conn,
            at=now,
            authority=me,
            action="draft_discarded",
            actor=actor,
            request_id=request_id,
            peer=row["counterpart"],
        )


def read_draft(conn: sqlite3.Connection, vault: Vault, request_id: str) -> dict[str, Any]:
    row = fetch_one(conn, "SELECT * FROM drafts WHERE request_id = ?", (request_id,))
    if row is None:
        raise NotFound("no such draft")
    plain = vault.open(row["content_key"], row["content"], record=f"draft:{request_id}")
    form: dict[str, Any] = json.loads(plain)
    return form


def send_draft(
    conn: sqlite3.Connection,
    vault: Vault,
    *,
    me: str,
    request_id: str,
    message: OutgoingMessage,
    actor: str,
    now: datetime,
    attachment_ids: list[str] | tuple[str, ...] = (),
    deadline_plan: tuple[str, str] | None = None,
) -> None:
    """The draft becomes the sealed request: same id, now queued (one transaction)."""
    meta = message.content
    with transaction(conn):
        row = _request_row(conn, request_id)
        if row["status"] != Status.DRAFT:
            raise Conflict(f"the request is already {row['status']}")
        evidence_store.attach(
            conn, list(attachment_ids), msg_id=message.msg_id, peer=message.recipient
        )
        evidence_store.release_from_draft(conn, request_id)
        conn.execute("DELETE FROM drafts WHERE request_id = ?", (request_id,))
        conn.execute(
            """UPDATE requests SET msg_id = ?, counterpart = ?, kind = ?, urgency = ?,
               language = ?, status = ?, created_at = ?, updated_at = ?, deadline = ?
               WHERE id = ?""",
            (
                message.msg_id,
                message.recipient,
                meta["kind"],
                meta["urgency"],
                meta["language"],
                Status.QUEUED.value,
                format_time(now),
                format_time(now),
                meta.get("deadline"),
                request_id,
            ),
        )
        _plan(conn, request_id, deadline_plan)
        _queue(conn, vault, me, request_id, message, actor, now)


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
) -> None:
    """Our acknowledgement, response or rejection of an incoming request."""
    event = FOLLOW_UP_EVENTS[message.type]
    with transaction(conn):
        evidence_store.attach(
            conn, list(attachment_ids), msg_id=message.msg_id, peer=message.recipient
        )
        row = _request_row(conn, request_id)
        if row["direction"] != "in":
            raise Conflict("only requests received from a peer can be acknowledged or answered")
        if event is Event.ACKNOWLEDGE and row["status"] != Status.RECEIVED:
            raise Conflict(f"the request is already {row['status']}")
        _move(conn, row, event, now)
        _insert_outgoing(conn, vault, me, request_id, message)
        _event(conn, request_id, now, message.type, actor, {"msg_id": message.msg_id})
        audit.append(
            conn,
            at=now,
            authority=me,
            action=_AUDIT_ACTION[event],
            actor=actor,
            request_id=request_id,
            msg_id=message.msg_id,
            peer=message.recipient,
            envelope_sha256=message.envelope_sha256,
        )


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
    at = format_time(now)
    with transaction(conn):
        found: dict[str, dict[str, Any]] = {}
        for ids in _chunks(list(wanted)):
            sql = _SELECT_SENT + f" AND m.msg_id IN ({_marks(len(ids))})"
            found.update((row["msg_id"], row) for row in fetch_all(conn, sql, (me, *ids)))
            # The envelope is dropped once receipted: it is ciphertext only the peer
            # can open, of no use here, and a liability should its key ever leak.
            sql = _OUTBOX_DONE + f" WHERE msg_id IN ({_marks(len(ids))})"
            conn.execute(sql, ids)
        if len(found) != len(wanted):
            raise NotFound("no such message")
        new = [(found[msg_id], raw) for msg_id, raw in wanted.items()]
        new = [(row, raw) for row, raw in new if not row["receipted"]]
        delivered = [
            row["request_id"]
            for row, _ in new
            if row["type"] == "request" and _moves(row["status"], Event.DELIVER)
        ]
        events: list[tuple[Any, ...]] = []
        entries: list[bytes] = []
        for row, raw in new:
            detail = {
                "msg_id": row["msg_id"],
                "type": row["type"],
                "receipt_sha256": sha256_hex(raw),
            }
            events.append(
                (row["request_id"], at, "delivered", None, json.dumps(detail, sort_keys=True))
            )
            common = {"request_id": row["request_id"], "peer": row["recipient"]}
            attempt = int(row["attempts"] or 0) + 1
            sent = {**common, "msg_id": row["msg_id"], "type": row["type"], "attempt": attempt}
            for action, fields in (("request_sent", sent), ("request_delivered", common | detail)):
                entries.append(
                    encode_entry(at=now, authority=me, action=action, actor="system", fields=fields)
                )
        for part in _chunks([(row["id"], raw.decode()) for row, raw in new]):
            sql = _SET_RECEIPTS.format(values=_marks(len(part), width=2))
            conn.execute(sql, [value for pair in part for value in pair])
        for ids in _chunks(delivered):
            # the deadline sweep looks at a request again whenever its status moves
            sql = _MARK_DELIVERED + f" WHERE id IN ({_marks(len(ids))})"
            conn.execute(sql, (Status.DELIVERED.value, at, at, *ids))
        for part in _chunks(events, 200):
            sql = _INSERT_EVENTS + _marks(len(part), width=5)
            conn.execute(sql, [value for event in part for value in event])
        audit.append_all(conn, entries)
        return len(new)


_SELECT_SENT = """SELECT m.id, m.msg_id, m.receipt IS NOT NULL AS receipted, m.request_id,
       m.type, m.recipient, r.status, o.attempts
    FROM messages m JOIN requests r ON r.id = m.request_id
    LEFT JOIN outbox o ON o.msg_id = m.msg_id
    WHERE m.sender = ?"""
_OUTBOX_DONE = "UPDATE outbox SET state = 'done', envelope = X'', last_error = NULL"
_SET_RECEIPTS = """UPDATE messages SET receipt = v.column2
    FROM (VALUES {values}) AS v WHERE messages.id = v.column1"""
_MARK_DELIVERED = """UPDATE requests SET status = ?, updated_at = ?, deadline_check_at = NULL,
    delivered_at = COALESCE(delivered_at, ?)"""
_INSERT_EVENTS = "INSERT INTO events (request_id, at, event, actor, detail) VALUES "


def _moves(status: str, event: Event) -> bool:
    """Whether ``event`` moves a request on (a late receipt moves nothing back)."""
    try:
        return transition(Status(status), event) is not Status(status)
    except Conflict:
        return False  # e.g. already rejected: the receipt is recorded, the status stays


def _marks(count: int, width: int = 1) -> str:
    """``?,?,?`` for ``count`` values, or ``(?, ?),(?, ?)`` for rows of ``width``."""
    if width == 1:
        return ",".join("?" * count)
    row = "(" + ", ".join("?" * width) + ")"
    return ",".join([row] * count)


T = TypeVar("T")


def _chunks(values: Sequence[T], size: int = 400) -> list[Sequence[T]]:
    """Slices small enough for SQLite's bound-parameter limit."""
    return [values[i : i + size] for i in range(0, len(values), size)]


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
            action, event_name = "request_received", "received"
        else:
            row = _thread_of(conn, me, message)
            # the time the peer signed, so that both nodes judge its deadline alike
            _move(conn, row, FOLLOW_UP_EVENTS[message.type], min(message.created_at, now))
            request_id, action, event_name = row["id"], "message_received", message.type
        kept = _message_row(vault, request_id, message.sender, me, message, message.receipt)
        _insert_rows(conn, _INSERT_MESSAGES, [kept])
        evidence_store.record_received(
            conn, vault, message.content, sender=message.sender, msg_id=message.msg_id, now=now
        )
        _event(conn, request_id, now, event_name, message.sender, {"msg_id": message.msg_id})
        audit.append(
            conn,
            at=now,
            authority=me,
            action=action,
            actor=message.sender,
            request_id=request_id,
            msg_id=message.msg_id,
            type=message.type,
            peer=message.sender,
            envelope_sha256=message.envelope_sha256,
            receipt_sha256=sha256_hex(message.receipt),
        )
        return message.receipt


def _plan(conn: sqlite3.Connection, request_id: str, plan: tuple[str, str] | None) -> None:
    if plan is not None:
        conn.execute(
            "UPDATE requests SET deadline_state = ?, deadline_check_at = ? WHERE id = ?",
            (*plan, request_id),
        )


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


def _thread_of(conn: sqlite3.Connection, me: str, message: IncomingMessage) -> dict[str, Any]:
    ref = message.content["in_reply_to"]
    row = fetch_one(
        conn,
        "SELECT * FROM requests WHERE origin = ? AND msg_id = ? AND counterpart = ?",
        (ref["origin"], ref["msg_id"], message.sender),
    )
    if row is None:
        raise NotFound("the message refers to a request this node does not know")
    return row


def _insert_outgoing(
    conn: sqlite3.Connection, vault: Vault, me: str, request_id: str, message: OutgoingMessage
) -> None:
    _insert_rows(
        conn,
        _INSERT_MESSAGES,
        [_message_row(vault, request_id, me, message.recipient, message, None)],
    )
    _insert_rows(conn, _INSERT_OUTBOX, [_outbox_row(message)])


def _outbox_row(message: OutgoingMessage) -> tuple[Any, ...]:
    return (
        message.msg_id, message.recipient, message.envelope, message.envelope_sha256,
        "pending", format_time(message.created_at), format_time(message.expires_at),
        int(message.emergency),
    )  # fmt: skip


def _message_row(
    vault: Vault,
    request_id: str,
    sender: str,
    recipient: str,
    message: OutgoingMessage | IncomingMessage,
    receipt: bytes | None,
) -> tuple[Any, ...]:
    """A ``messages`` row: the content encrypted at rest under its own key."""
    content_json = message.content_json or canonical_json(message.content)
    key, ciphertext = vault.seal(content_json, record=f"message:{sender}:{message.msg_id}")
    evidence = message.evidence if isinstance(message, IncomingMessage) else None
    return (
        request_id, sender, recipient, message.msg_id, message.type,
        format_time(message.created_at), message.envelope_sha256, key, ciphertext,
        json.dumps(evidence) if evidence else None, receipt.decode() if receipt else None,
    )  # fmt: skip


def _move(conn: sqlite3.Connection, row: dict[str, Any], event: Event, now: datetime) -> Status:
    current = Status(row["status"])
    new = transition(current, event)
    if new is not current:
        column = _STATUS_TIME_COLUMN.get(new)
        # the deadline sweep looks at a request again whenever its status moves
        extra = ", deadline_check_at = NULL"
        extra += f", {column} = COALESCE({column}, ?)" if column else ""
        params: tuple[Any, ...] = (new.value, format_time(now))
        params += (format_time(now), row["id"]) if column else (row["id"],)
        conn.execute(f"UPDATE requests SET status = ?, updated_at = ?{extra} WHERE id = ?", params)  # noqa: S608 (column names come from a fixed table)
    return new


def _event(
    conn: sqlite3.Connection,
    request_id: str,
    at: datetime,
    event: str,
    actor: str | None,
    detail: dict[str, Any],
) -> None:
    conn.execute(
        "INSERT INTO events (request_id, at, event, actor, detail) VALUES (?, ?, ?, ?, ?)",
        (request_id, format_time(at), event, actor, json.dumps(detail, sort_keys=True)),
    )


def _request_row(conn: sqlite3.Connection, request_id: str) -> dict[str, Any]:
    row = fetch_one(conn, "SELECT * FROM requests WHERE id = ?", (request_id,))
    if row is None:
        raise NotFound("no such request")
    return row


# --- reads -----------------------------------------------------------------


def get_request(conn: sqlite3.Connection, request_id: str) -> dict[str, Any]:
    return _request_row(conn, request_id)


def timeline(conn: sqlite3.Connection, request_id: str) -> list[dict[str, Any]]:
    rows = fetch_all(
        conn,
        "SELECT at, event, actor, detail FROM events WHERE request_id = ? ORDER BY id",
        (request_id,),
    )
    for row in rows:
        row["detail"] = json.loads(row["detail"])
    return rows


def messages(conn: sqlite3.Connection, vault: Vault, request_id: str) -> list[dict[str, Any]]:
    """Messages of a request with their decrypted contents (callers check the role)."""
    rows = fetch_all(conn, "SELECT * FROM messages WHERE request_id = ? ORDER BY id", (request_id,))
    result = []
    for row in rows:
        record = f"message:{row['sender']}:{row['msg_id']}"
        if row["content_key"] is None:  # erased by retention: the key is gone
            content: dict[str, Any] = {"erased": True}
        else:
            content = json.loads(vault.open(row["content_key"], row["content"], record=record))
        result.append(
            {
                "msg_id": row["msg_id"],
                "type": row["type"],
                "sender": row["sender"],
                "recipient": row["recipient"],
                "created_at": row["created_at"],
                "envelope_sha256": row["envelope_sha256"],
                "content": content,
                "receipt": json.loads(row["receipt"]) if row["receipt"] else None,
            }
        )
    return result


def close_request(
    conn: sqlite3.Connection, *, me: str, request_id: str, actor: str, now: datetime
) -> dict[str, Any]:
    """Close an answered request: local bookkeeping (the peer is not told)."""
    with transaction(conn):
        row = _request_row(conn, request_id)
        if row["status"] != Status.ANSWERED:
            raise Conflict(f"only answered requests can be closed; this one is {row['status']}")
        _move(conn, row, Event.CLOSE, now)
        _event(conn, request_id, now, "closed", actor, {})
        audit.append(
            conn,
            at=now,
            authority=me,
            action=_AUDIT_ACTION[Event.CLOSE],
            actor=actor,
            request_id=request_id,
            peer=row["counterpart"],
        )
        return _request_row(conn, request_id)
