"""Membership changes after the answer to an invitation: we leave a case we are a
member of (our ``case_departure`` queued to the origin), or, as the origin, we remove a
member (the new list sealed to the members and to the one removed). Each is one
transaction with its audit entry; the rules are ``core/sharing.py``'s, asked again
inside it."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from ..core.sharing import MemberState, check_leave, check_remove
from ..core.vault import Vault
from . import audit
from .db import transaction
from .messages import INSERT_OUTBOX, OutgoingMessage, outbox_row
from .sharing import SealTo, announce, keep, set_member, sharing_of
from .sql import insert_rows


def leave(
    conn: sqlite3.Connection,
    vault: Vault,
    *,
    me: str,
    case_id: str,
    message: OutgoingMessage,
    actor: str,
    now: datetime,
) -> None:
    """Our departure queued to the origin; we are ``left`` in our copy (which we keep,
    and which takes no more of the case's lists). Audited ``case_left``."""
    with transaction(conn):
        shared = sharing_of(conn, case_id)
        check_leave(
            me=me,
            origin=shared.ref.origin if shared.ref else None,
            mine=shared.members.get(me),
        )
        set_member(conn, case_id, me, MemberState.LEFT, now)
        keep(conn, vault, case_id, me, message.recipient, message)
        insert_rows(conn, INSERT_OUTBOX, [outbox_row(message)])
        audit.append(
            conn,
            at=now,
            authority=me,
            action="case_left",
            actor=actor,
            case_id=case_id,
            peer=message.recipient,
            msg_id=message.msg_id,
        )


def remove(
    conn: sqlite3.Connection,
    vault: Vault,
    *,
    me: str,
    case_id: str,
    target: str,
    seal: SealTo,
    actor: str,
    now: datetime,
) -> int:
    """As the origin: ``target`` (a member, or an invitee) is ``removed``, and the new
    list goes, in the same transaction, to the members and to ``target`` this once.
    Audited ``case_member_removed`` then ``case_membership_sent``. Returns the serial."""
    with transaction(conn):
        shared = sharing_of(conn, case_id)
        check_remove(
            me=me,
            origin=shared.ref.origin if shared.ref else None,
            target=target,
            members=shared.members,
        )
        was = shared.members[target]
        set_member(conn, case_id, target, MemberState.REMOVED, now)
        audit.append(
            conn,
            at=now,
            authority=me,
            action="case_member_removed",
            actor=actor,
            case_id=case_id,
            peer=target,
            was=was.value,
        )
        return announce(conn, vault, me=me, case_id=case_id, seal=seal, now=now, also=(target,))
