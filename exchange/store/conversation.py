"""The conversation's rules that need what is stored: a reminder's interval, the
consent request a consent answers, the new holder named by a transfer. Used for our
own messages (``requests.add_follow_up``) and for a peer's (``inbound``), inside the
transaction that stores them."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from ..core.canonical import JsonObject, parse_time
from ..core.errors import Conflict, InvalidRequest
from ..core.lifecycle import Party, check_consent, check_reminder, own_party
from .db import fetch_one
from .rows import RequestRow


def check_stored(
    conn: sqlite3.Connection,
    row: RequestRow,
    msg_type: str,
    content: JsonObject,
    *,
    party: Party,
    sender: str,
    me: str,
    now: datetime,
) -> None:
    """What ``core.lifecycle.check_message`` cannot see from the status alone."""
    if msg_type == "reminder":
        last = fetch_one(
            conn,
            "SELECT MAX(at) AS at FROM events WHERE request_id = ? AND event = 'reminder'",
            (row.id,),
        )
        check_reminder(parse_time(last["at"]) if last and last["at"] else None, now)
    elif msg_type == "consent":
        asked = fetch_one(
            conn,
            "SELECT sender FROM messages WHERE request_id = ? AND msg_id = ?"
            " AND type = 'consent_request' ORDER BY id LIMIT 1",
            (row.id, content["about"]),
        )
        asked_by = None
        if asked is not None:
            mine = own_party(row.direction)
            other = Party.RECIPIENT if mine is Party.REQUESTER else Party.REQUESTER
            asked_by = mine if asked["sender"] == me else other
        answered = fetch_one(
            conn,
            "SELECT 1 AS found FROM events WHERE request_id = ? AND event = 'consent'"
            " AND json_extract(detail, '$.about') = ?",
            (row.id, content["about"]),
        )
        check_consent(asked_by=asked_by, answered=answered is not None, party=party)
    elif msg_type == "transfer":
        requester = row.origin
        if content["to"] in (requester, sender):
            raise InvalidRequest("a transfer names another authority than the two parties")


def detail_of(msg_type: str, content: JsonObject) -> dict[str, object]:
    """What the timeline and the audit entry keep of a message beyond its id (never
    its text)."""
    if msg_type == "transfer":
        return {"to": content["to"]}
    if msg_type == "consent_request":
        return {"purpose": content["purpose"]}
    if msg_type == "consent":
        return {"about": content["about"], "granted": content["granted"]}
    return {}


def set_holder(conn: sqlite3.Connection, request_id: str, holder: str) -> None:
    """A transfer of a request we sent: the authority that now holds it is the one
    whose follow-ups we accept, and the one we write to."""
    conn.execute("UPDATE requests SET counterpart = ? WHERE id = ?", (holder, request_id))


def check_transferred_in(
    conn: sqlite3.Connection, ref: JsonObject, *, sender: str, me: str
) -> None:
    """A request transferred to us names its original: neither ours, nor the
    transferring node's own, nor one we hold already."""
    if ref["origin"] in (me, sender):
        raise InvalidRequest("a transferred request names its original requester")
    found = fetch_one(
        conn,
        "SELECT 1 AS found FROM requests WHERE origin = ? AND msg_id = ?",
        (ref["origin"], ref["msg_id"]),
    )
    if found is not None:
        raise Conflict("this node holds that request already")
