"""Shared cases: each copy's global id and membership serial, its members, and the case
messages (invitation, acceptance, membership) sent or received, their contents sealed
at rest (record ``case-message:<sender>:<msg_id>``). Every write is one transaction with
its audit entry (ids and codes only, never a title or a reference); the rules are
``core/sharing.py``'s, asked again inside the transaction."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from ..core.canonical import JsonObject, b64d, canonical_json, format_time, sha256_hex
from ..core.cases import CaseStatus
from ..core.errors import DecryptionFailed, UnknownCase
from ..core.sharing import (
    CaseRef,
    MemberState,
    check_answer,
    check_invite,
    members_json,
)
from ..core.vault import Vault
from . import audit
from .db import fetch_all, fetch_one, transaction
from .messages import INSERT_OUTBOX, IncomingMessage, OutgoingMessage, outbox_row
from .sql import insert_rows


@dataclass(frozen=True)
class Sharing:
    """A copy's place in a shared case (``ref`` None: never shared)."""

    case_id: str
    ref: CaseRef | None
    serial: int
    members: dict[str, MemberState]
    implicit: bool
    status: CaseStatus


@dataclass(frozen=True)
class Member:
    authority: str
    state: MemberState
    since: str
    reference: str | None

    def to_json(self) -> JsonObject:
        return {
            "authority": self.authority,
            "state": self.state.value,
            "since": self.since,
            "reference": self.reference,
        }


@dataclass(frozen=True)
class CaseMessage:
    """A case message as the case page lists it (never its contents)."""

    msg_id: str
    type: str
    sender: str
    recipient: str
    created_at: str
    receipt: bool

    def to_json(self) -> JsonObject:
        return {
            "msg_id": self.msg_id,
            "type": self.type,
            "sender": self.sender,
            "recipient": self.recipient,
            "created_at": self.created_at,
            "receipt": self.receipt,
        }


def record(sender: str, msg_id: str) -> str:
    return f"case-message:{sender}:{msg_id}"


def sharing_of(conn: sqlite3.Connection, case_id: str) -> Sharing:
    row = fetch_one(
        conn,
        "SELECT id, origin, origin_case_id, membership_serial, implicit, status"
        " FROM cases WHERE id = ?",
        (case_id,),
    )
    if row is None:
        raise UnknownCase("no such case")
    members = fetch_all(
        conn, "SELECT authority, state FROM case_members WHERE case_id = ?", (case_id,)
    )
    ref = CaseRef(row["origin"], row["origin_case_id"]) if row["origin"] else None
    return Sharing(
        case_id=case_id,
        ref=ref,
        serial=int(row["membership_serial"]),
        members={m["authority"]: MemberState(m["state"]) for m in members},
        implicit=bool(row["implicit"]),
        status=CaseStatus(row["status"]),
    )


def copy_of(conn: sqlite3.Connection, ref: CaseRef) -> str | None:
    """This node's copy of a shared case, if it holds one."""
    row = fetch_one(
        conn,
        "SELECT id FROM cases WHERE origin = ? AND origin_case_id = ?",
        (ref.origin, ref.case_id),
    )
    return str(row["id"]) if row else None


def set_member(
    conn: sqlite3.Connection, case_id: str, authority: str, state: MemberState, now: datetime
) -> None:
    conn.execute(
        """INSERT INTO case_members (case_id, authority, state, since) VALUES (?, ?, ?, ?)
           ON CONFLICT (case_id, authority) DO UPDATE SET state = excluded.state,
           since = excluded.since WHERE case_members.state != excluded.state""",
        (case_id, authority, state.value, format_time(now)),
    )


_INSERT = """INSERT INTO case_messages (case_id, sender, recipient, msg_id, type, created_at,
    envelope_sha256, content_key, content, evidence) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"""


def keep(
    conn: sqlite3.Connection,
    vault: Vault,
    case_id: str,
    sender: str,
    recipient: str,
    message: OutgoingMessage | IncomingMessage,
) -> None:
    """A case message and its content sealed at rest, with its evidence (the signed
    header and the sender's signature over header and content, a peer's as verified,
    ours as sealed), so that its signed word can be checked again from what is kept
    (and put in an evidence bundle: store/case_evidence.py)."""
    plain = message.content_json or canonical_json(message.content)
    key, sealed = vault.seal(plain, record=record(sender, message.msg_id))
    evidence = message.evidence if isinstance(message, IncomingMessage) else _own(message)
    conn.execute(
        _INSERT,
        (
            case_id,
            sender,
            recipient,
            message.msg_id,
            message.type,
            format_time(message.created_at),
            message.envelope_sha256,
            key,
            sealed,
            json.dumps(evidence) if evidence else None,
        ),
    )


def _own(message: OutgoingMessage) -> JsonObject | None:
    if message.evidence_json is None:
        return None
    document = json.loads(message.evidence_json)
    signature = b64d(document["signature"], field="signature", length=64)
    return {"header": document["header"], "signature": signature.hex()}


def _queue(
    conn: sqlite3.Connection, vault: Vault, me: str, case_id: str, m: OutgoingMessage
) -> None:
    keep(conn, vault, case_id, me, m.recipient, m)
    insert_rows(conn, INSERT_OUTBOX, [outbox_row(m)])


# Our side --------------------------------------------------------------------------


def invite(
    conn: sqlite3.Connection,
    vault: Vault,
    *,
    me: str,
    case_id: str,
    message: OutgoingMessage,
    actor: str,
    now: datetime,
) -> None:
    """Our invitation queued, the invitee ``invited``; the case becomes shared (its
    global id is ours). Audited ``case_member_invited``."""
    with transaction(conn):
        shared = sharing_of(conn, case_id)
        origin = shared.ref.origin if shared.ref else None
        check_invite(
            me=me,
            origin=origin,
            implicit=shared.implicit,
            closed=shared.status is CaseStatus.CLOSED,
            invitee=message.recipient,
            members=shared.members,
        )
        if shared.ref is None:
            conn.execute(
                "UPDATE cases SET origin = ?, origin_case_id = ? WHERE id = ?",
                (me, case_id, case_id),
            )
            set_member(conn, case_id, me, MemberState.MEMBER, now)
        set_member(conn, case_id, message.recipient, MemberState.INVITED, now)
        _queue(conn, vault, me, case_id, message)
        audit.append(
            conn,
            at=now,
            authority=me,
            action="case_member_invited",
            actor=actor,
            case_id=case_id,
            peer=message.recipient,
            msg_id=message.msg_id,
        )


def answer(
    conn: sqlite3.Connection,
    vault: Vault,
    *,
    me: str,
    case_id: str,
    message: OutgoingMessage,
    accepted: bool,
    actor: str,
    now: datetime,
    holder: str | None = None,
) -> None:
    """Our answer to an invitation we hold, queued to the origin; ``holder``: the
    investigator of ours who holds our copy from now on. Audited
    ``case_invitation_accepted`` or ``case_invitation_declined``."""
    with transaction(conn):
        check_answer(sharing_of(conn, case_id).members.get(me))
        state = MemberState.MEMBER if accepted else MemberState.DECLINED
        set_member(conn, case_id, me, state, now)
        if holder is not None:
            conn.execute("UPDATE cases SET created_by = ? WHERE id = ?", (holder, case_id))
        _queue(conn, vault, me, case_id, message)
        action = "case_invitation_accepted" if accepted else "case_invitation_declined"
        audit.append(
            conn,
            at=now,
            authority=me,
            action=action,
            actor=actor,
            case_id=case_id,
            peer=message.recipient,
            msg_id=message.msg_id,
            **({"investigator": holder} if holder else {}),
        )


# Seals one membership list to one member: (recipient, content) -> the sealed message.
SealTo = Callable[[str, JsonObject], OutgoingMessage]


def announce(
    conn: sqlite3.Connection,
    vault: Vault,
    *,
    me: str,
    case_id: str,
    seal: SealTo,
    now: datetime,
    also: tuple[str, ...] = (),
) -> int:
    """As the origin, after a change: the next serial, and the member list sealed to
    every member but us, and to ``also`` (a member just removed, told this once).
    Audited ``case_membership_sent``. Returns the serial."""
    with transaction(conn):
        shared = sharing_of(conn, case_id)
        if shared.ref is None or shared.ref.origin != me:
            return shared.serial
        serial = shared.serial + 1
        conn.execute("UPDATE cases SET membership_serial = ? WHERE id = ?", (serial, case_id))
        content = {
            "case": shared.ref.to_json(),
            "serial": serial,
            "members": members_json(shared.members),
        }
        told = sorted(
            a
            for a, s in shared.members.items()
            if (s is MemberState.MEMBER or a in also) and a != me
        )
        for authority in told:
            _queue(conn, vault, me, case_id, seal(authority, content))
        audit.append(
            conn,
            at=now,
            authority=me,
            action="case_membership_sent",
            actor="system",
            case_id=case_id,
            serial=serial,
            peers=told,
        )
        return serial


def delivered(
    conn: sqlite3.Connection, *, me: str, receipts: dict[str, bytes], now: datetime
) -> set[str]:
    """Receipts of our case messages (inside ``store/receipts``' transaction): kept,
    audited ``case_message_delivered``. Returns the message ids that were ours."""
    found: set[str] = set()
    for msg_id, raw in receipts.items():
        row = fetch_one(
            conn,
            "SELECT case_id, recipient, type, receipt FROM case_messages"
            " WHERE sender = ? AND msg_id = ?",
            (me, msg_id),
        )
        if row is None:
            continue
        found.add(msg_id)
        if row["receipt"] is not None:
            continue
        conn.execute(
            "UPDATE case_messages SET receipt = ? WHERE sender = ? AND msg_id = ?",
            (raw.decode(), me, msg_id),
        )
        audit.append(
            conn,
            at=now,
            authority=me,
            action="case_message_delivered",
            actor="system",
            case_id=row["case_id"],
            peer=row["recipient"],
            msg_id=msg_id,
            type=row["type"],
        )
    return found


def refused(
    conn: sqlite3.Connection,
    *,
    me: str,
    msg_id: str,
    peer: str,
    code: str,
    refused_at: datetime,
    refusal: bytes,
    now: datetime,
) -> int:
    """A peer's signed refusal of one of our case messages (inside ``store/refusals``'
    transaction): kept once per code, audited ``delivery_refused`` with the case id.
    Returns 1 if new."""
    row = fetch_one(
        conn,
        "SELECT case_id FROM case_messages WHERE sender = ? AND msg_id = ?",
        (me, msg_id),
    )
    if row is None:
        return 0
    added = conn.execute(
        """INSERT OR IGNORE INTO refusals (msg_id, peer, code, refused_at, refusal,
           recorded_at) VALUES (?, ?, ?, ?, ?, ?)""",
        (msg_id, peer, code, format_time(refused_at), refusal.decode(), format_time(now)),
    )
    if not added.rowcount:
        return 0
    audit.append(
        conn,
        at=now,
        authority=me,
        action="delivery_refused",
        actor="system",
        case_id=row["case_id"],
        peer=peer,
        msg_id=msg_id,
        code=code,
        refusal_sha256=sha256_hex(refusal),
    )
    return 1


def erase_contents(conn: sqlite3.Connection, case_id: str) -> tuple[bytes, ...]:
    """The case's messages lose their contents (wrapped key and ciphertext), inside
    the erasure of the case's title and reference; returns the wrapped keys erased.
    Ids, types, times, evidence signatures and receipts stay."""
    sql = "SELECT content_key FROM case_messages WHERE case_id = ? AND content_key IS NOT NULL"
    wrapped = tuple(bytes(row[0]) for row in conn.execute(sql, (case_id,)).fetchall())
    conn.execute(
        "UPDATE case_messages SET content_key = NULL, content = NULL WHERE case_id = ?",
        (case_id,),
    )
    return wrapped


def members(conn: sqlite3.Connection, vault: Vault, case_id: str) -> list[Member]:
    """The case's members with their state, and each one's reference as its own
    invitation or acceptance states it (None once unreadable)."""
    rows = fetch_all(
        conn,
        "SELECT authority, state, since FROM case_members WHERE case_id = ? ORDER BY authority",
        (case_id,),
    )
    references: dict[str, str | None] = {}
    sql = (
        "SELECT sender, msg_id, content_key, content FROM case_messages WHERE case_id = ?"
        " AND type IN ('case_invitation', 'case_acceptance') AND content_key IS NOT NULL"
        " ORDER BY id"
    )
    for row in fetch_all(conn, sql, (case_id,)):
        try:
            plain = vault.open(
                row["content_key"], row["content"], record=record(row["sender"], row["msg_id"])
            )
        except DecryptionFailed:
            continue
        found = json.loads(plain).get("reference")
        references[row["sender"]] = found if isinstance(found, str) else None
    return [
        Member(r["authority"], MemberState(r["state"]), r["since"], references.get(r["authority"]))
        for r in rows
    ]


def case_messages(conn: sqlite3.Connection, case_id: str) -> list[CaseMessage]:
    rows = fetch_all(
        conn,
        "SELECT msg_id, type, sender, recipient, created_at, receipt IS NOT NULL AS receipted"
        " FROM case_messages WHERE case_id = ? ORDER BY id",
        (case_id,),
    )
    return [
        CaseMessage(
            r["msg_id"],
            r["type"],
            r["sender"],
            r["recipient"],
            r["created_at"],
            bool(r["receipted"]),
        )
        for r in rows
    ]


def member_state(
    conn: sqlite3.Connection, ref: CaseRef, authority: str
) -> tuple[str | None, MemberState | None]:
    """Our copy of a shared case and an authority's state in it."""
    held = copy_of(conn, ref)
    if held is None:
        return None, None
    row = fetch_one(
        conn,
        "SELECT state FROM case_members WHERE case_id = ? AND authority = ?",
        (held, authority),
    )
    return held, MemberState(row["state"]) if row else None
