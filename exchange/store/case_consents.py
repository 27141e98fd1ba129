"""The consent requests made about a case's requests, both directions, with their
answers: what the case page lists (issue 16, item 4). Everything comes from the
messages' clear columns and their timeline events (kept when retention erases the
contents), never from a content: who asked whom, for what, when, and the answer."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, replace

from ..core.canonical import JsonObject
from .db import fetch_all

_CONSENTS = """SELECT e.request_id, e.event, e.detail, m.msg_id, m.sender, m.recipient,
       m.created_at, r.origin
    FROM events AS e
    JOIN messages AS m
      ON m.request_id = e.request_id AND m.msg_id = json_extract(e.detail, '$.msg_id')
    JOIN requests AS r ON r.id = e.request_id
    WHERE e.request_id IN ({}) AND e.event IN ('consent_request', 'consent')
    ORDER BY e.id"""


@dataclass(frozen=True)
class Consent:
    """One consent request and its answer (``pending`` until one comes). ``concerns``:
    what the asking party received and wants to use or pass on, ``request`` when the
    request's recipient asks, ``answers`` when its requester asks (it may only once it
    holds an answer: core/lifecycle)."""

    request_id: str
    msg_id: str
    asked_by: str
    asked_of: str
    purpose: str  # "use": other proceedings (UNTOC art. 18(19)); "disclosure": pass on
    asked_at: str
    concerns: str
    answer: str = "pending"  # "granted", "refused"
    answered_at: str | None = None
    answer_msg_id: str | None = None

    def to_json(self) -> JsonObject:
        return {
            "request_id": self.request_id,
            "msg_id": self.msg_id,
            "asked_by": self.asked_by,
            "asked_of": self.asked_of,
            "purpose": self.purpose,
            "asked_at": self.asked_at,
            "concerns": self.concerns,
            "answer": self.answer,
            "answered_at": self.answered_at,
            "answer_msg_id": self.answer_msg_id,
        }


def consents_of(conn: sqlite3.Connection, request_ids: list[str]) -> list[Consent]:
    """The consent requests about these requests, oldest first, each with its answer."""
    asked: dict[str, Consent] = {}
    answers: list[tuple[str, bool, str, str]] = []  # (about, granted, at, msg_id)
    for chunk in (request_ids[i : i + 400] for i in range(0, len(request_ids), 400)):
        sql = _CONSENTS.format(",".join("?" * len(chunk)))  # fixed text; values are bound
        for row in fetch_all(conn, sql, tuple(chunk)):
            detail = json.loads(row["detail"])
            at, msg_id = str(row["created_at"]), str(row["msg_id"])
            if row["event"] == "consent":
                answers.append((str(detail["about"]), bool(detail["granted"]), at, msg_id))
                continue
            asked[msg_id] = Consent(
                request_id=row["request_id"],
                msg_id=msg_id,
                asked_by=row["sender"],
                asked_of=row["recipient"],
                purpose=str(detail.get("purpose", "")),
                asked_at=at,
                concerns="answers" if row["sender"] == row["origin"] else "request",
            )
    for about, granted, at, msg_id in answers:
        if about in asked:
            answer = "granted" if granted else "refused"
            asked[about] = replace(
                asked[about], answer=answer, answered_at=at, answer_msg_id=msg_id
            )
    return list(asked.values())
