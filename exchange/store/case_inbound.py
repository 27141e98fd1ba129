"""A peer's case messages (invitation, acceptance, membership, departure), stored after their
rule (core/sharing.py) inside store/inbound's savepoint: a refusal changes nothing."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..core import ids
from ..core.canonical import JsonObject
from ..core.cases import CaseFields, offences_of, route_of
from ..core.errors import UnknownCase
from ..core.sharing import (
    CaseRef,
    MemberState,
    case_ref,
    check_acceptance,
    check_departure,
    check_invitation,
    check_membership,
    members_of,
    own_state,
)
from ..core.vault import Vault
from .cases import NewCase, insert_case
from .db import fetch_all, fetch_one
from .messages import IncomingMessage
from .sharing import copy_of, keep, set_member, sharing_of


@dataclass(frozen=True)
class Received:
    case_id: str
    action: str
    detail: dict[str, object]
    announce: bool = False  # the origin tells the members (an invitee answered)


def receive(
    conn: sqlite3.Connection, vault: Vault, *, me: str, message: IncomingMessage, now: datetime
) -> Received:
    """Store a peer's case message after its rule: raises the refusal's error, having
    changed nothing (the caller's savepoint)."""
    content, sender = message.content, message.sender
    ref = case_ref(content["case"])
    held = copy_of(conn, ref)
    detail: dict[str, object] = {"origin": ref.origin}
    if message.type == "case_invitation":
        mine = sharing_of(conn, held).members.get(me) if held else None
        check_invitation(sender=sender, ref=ref, me=me, held=mine)
        # invited again after a decline or a leave: the copy we hold, invited anew
        case_id = held or _copy(conn, vault, ref, content, now)
        set_member(conn, case_id, sender, MemberState.MEMBER, now)
        set_member(conn, case_id, me, MemberState.INVITED, now)
        result = Received(case_id, "case_invitation_received", detail)
    elif message.type == "case_acceptance":
        state = sharing_of(conn, held).members.get(sender) if held else None
        check_acceptance(sender=sender, ref=ref, me=me, state=state)
        if held is None:  # check_acceptance refused it already
            raise UnknownCase("no such case")
        accepted = bool(content["accepted"])
        new = MemberState.MEMBER if accepted else MemberState.DECLINED
        set_member(conn, held, sender, new, now)
        detail["accepted"] = accepted
        result = Received(held, "case_acceptance_received", detail, announce=True)
    elif message.type == "case_departure":
        state = sharing_of(conn, held).members.get(sender) if held else None
        check_departure(sender=sender, ref=ref, me=me, state=state)
        if held is None:  # check_departure refused it already
            raise UnknownCase("no such case")
        set_member(conn, held, sender, MemberState.LEFT, now)
        result = Received(held, "case_departure_received", detail, announce=True)
    else:
        shared = sharing_of(conn, held) if held else None
        check_membership(
            sender=sender,
            ref=ref,
            me=me,
            mine=shared.members.get(me) if shared else None,
            last_serial=shared.serial if shared else 0,
            serial=int(content["serial"]),
        )
        if held is None or shared is None:  # check_membership refused it already
            raise UnknownCase("no such case")
        listed = members_of(content["members"])
        after = _take_list(conn, held, me, shared.members.get(me), listed, now)
        if after is not None:  # the list took us out of the case
            detail["state"] = after.value
        conn.execute(
            "UPDATE cases SET membership_serial = ? WHERE id = ?", (content["serial"], held)
        )
        detail["serial"] = content["serial"]
        result = Received(held, "case_membership_received", detail)
    keep(conn, vault, result.case_id, sender, me, message)
    return result


def _copy(
    conn: sqlite3.Connection, vault: Vault, ref: CaseRef, content: JsonObject, now: datetime
) -> str:
    """Our copy of a case we are invited to: its title and the origin's reference
    sealed like any case's; no author of ours (liaison prosecutors see it)."""
    fields = CaseFields(
        title=str(content["title"]),
        reference=None,  # ours, once we accept; the origin's stays in its invitation
        offences=offences_of(content["offences"]),
        route=route_of(content.get("route", [])),
    )
    case = NewCase(ids.request_id(), fields, created_by=None, now=now)
    insert_case(conn, vault, case)
    conn.execute(
        "UPDATE cases SET origin = ?, origin_case_id = ? WHERE id = ?",
        (ref.origin, ref.case_id, case.id),
    )
    return case.id


def _take_list(
    conn: sqlite3.Connection,
    case_id: str,
    me: str,
    mine: MemberState | None,
    listed: dict[str, MemberState],
    now: datetime,
) -> MemberState | None:
    """The origin's list replaces ours (a node it leaves out has left), but for our own
    state, which only our answer sets (``core/sharing.own_state``) or the origin's
    removal. Returns our own new state if the list changed it."""
    for authority, state in listed.items():
        if authority != me:
            set_member(conn, case_id, authority, state, now)
    rows = fetch_all(conn, "SELECT authority FROM case_members WHERE case_id = ?", (case_id,))
    for row in rows:
        if row["authority"] not in listed and row["authority"] != me:
            set_member(conn, case_id, row["authority"], MemberState.LEFT, now)
    after = own_state(mine, listed.get(me))
    if after is not None and after is not mine:
        set_member(conn, case_id, me, after, now)
        return after
    return None


def case_of_message(conn: sqlite3.Connection, sender: str, msg_id: str) -> str | None:
    row = fetch_one(
        conn, "SELECT case_id FROM case_messages WHERE sender = ? AND msg_id = ?", (sender, msg_id)
    )
    return str(row["case_id"]) if row else None


def seen(conn: sqlite3.Connection, sender: str, msg_id: str) -> dict[str, Any] | None:
    """A case message stored already: its envelope hash and receipt."""
    return fetch_one(
        conn,
        "SELECT envelope_sha256, receipt FROM case_messages WHERE sender = ? AND msg_id = ?",
        (sender, msg_id),
    )


def set_receipts(conn: sqlite3.Connection, rows: list[tuple[str, str, str]]) -> None:
    """The receipts we issued for case messages just stored: (sender, msg_id, receipt)."""
    for sender, msg_id, receipt in rows:
        conn.execute(
            "UPDATE case_messages SET receipt = ? WHERE sender = ? AND msg_id = ?",
            (receipt, sender, msg_id),
        )
