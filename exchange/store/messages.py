"""Messages of requests: ours (sealed, queued for a peer) and peers' (verified,
receipted), their contents encrypted at rest under a key of their own."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..core.canonical import JsonObject, canonical_json, format_time, sha256_hex
from ..core.errors import DecryptionFailed, NotFound
from ..core.vault import Vault
from .db import fetch_all, fetch_one
from .rows import MessageView, TimelineEvent
from .sql import insert_rows

INSERT_MESSAGES = """INSERT INTO messages (request_id, sender, recipient, msg_id, type,
    created_at, envelope_sha256, content_key, content, evidence, receipt, evidence_key,
    evidence_doc) VALUES """
INSERT_OUTBOX = """INSERT INTO outbox (msg_id, peer, envelope, envelope_sha256, state,
    next_attempt_at, expires_at, emergency, evidence_sha256) VALUES """


@dataclass(frozen=True)
class OutgoingMessage:
    """A sealed message of ours, ready to be stored and queued."""

    msg_id: str
    type: str
    recipient: str
    created_at: datetime
    content: JsonObject
    envelope: bytes
    envelope_sha256: str
    expires_at: datetime
    content_json: bytes | None = None  # canonical bytes of ``content``, when already made
    emergency: bool = False  # leaves before the rest of the peer's backlog
    # the evidence document sealed in the envelope: kept, and its hash checked in receipts
    evidence_json: bytes | None = None


@dataclass(frozen=True)
class IncomingMessage:
    """A verified, decrypted message from a peer (its receipt is signed once it is
    stored: ``store.inbound.receive_all``)."""

    msg_id: str
    type: str
    sender: str
    created_at: datetime
    content: JsonObject
    envelope_sha256: str
    evidence: JsonObject
    content_json: bytes | None = None  # canonical bytes of ``content``, when already made
    evidence_json: bytes | None = None  # the decrypted evidence document, as our receipt names


def insert_outgoing(
    conn: sqlite3.Connection, vault: Vault, me: str, request_id: str, message: OutgoingMessage
) -> None:
    """Our message and its outbox entry."""
    insert_rows(
        conn,
        INSERT_MESSAGES,
        [message_row(vault, request_id, me, message.recipient, message, None)],
    )
    insert_rows(conn, INSERT_OUTBOX, [outbox_row(message)])


def outbox_row(message: OutgoingMessage) -> tuple[Any, ...]:
    return (
        message.msg_id, message.recipient, message.envelope, message.envelope_sha256,
        "pending", format_time(message.created_at), format_time(message.expires_at),
        int(message.emergency),
        sha256_hex(message.evidence_json) if message.evidence_json is not None else None,
    )  # fmt: skip


def message_row(
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
    doc_key, doc = None, None
    if message.evidence_json is not None:
        doc_key, doc = vault.seal(
            message.evidence_json, record=evidence_record(sender, message.msg_id)
        )
    return (
        request_id, sender, recipient, message.msg_id, message.type,
        format_time(message.created_at), message.envelope_sha256, key, ciphertext,
        json.dumps(evidence) if evidence else None, receipt.decode() if receipt else None,
        doc_key, doc,
    )  # fmt: skip


def evidence_record(sender: str, msg_id: str) -> str:
    """The vault record name (associated data) of a message's evidence document."""
    return f"evidence:{sender}:{msg_id}"


def timeline(conn: sqlite3.Connection, request_id: str) -> list[TimelineEvent]:
    rows = fetch_all(
        conn,
        "SELECT at, event, actor, detail FROM events WHERE request_id = ? ORDER BY id",
        (request_id,),
    )
    return [TimelineEvent.of(row) for row in rows]


def messages(conn: sqlite3.Connection, vault: Vault, request_id: str) -> list[MessageView]:
    """Messages of a request with their decrypted contents (callers check the role)."""
    rows = fetch_all(conn, "SELECT * FROM messages WHERE request_id = ? ORDER BY id", (request_id,))
    result = []
    for row in rows:
        record = f"message:{row['sender']}:{row['msg_id']}"
        if row["content_key"] is None:  # erased by retention: the key is gone
            content: JsonObject = {"erased": True}
        else:
            content = json.loads(vault.open(row["content_key"], row["content"], record=record))
        receipt = json.loads(row["receipt"]) if row["receipt"] else None
        # a peer's message (the only kind with evidence) arrived when our receipt says
        arrived = receipt["receipt"]["received_at"] if receipt and row["evidence"] else None
        result.append(
            MessageView(
                msg_id=row["msg_id"],
                type=row["type"],
                sender=row["sender"],
                recipient=row["recipient"],
                created_at=row["created_at"],
                envelope_sha256=row["envelope_sha256"],
                content=content,
                receipt=receipt,
                received_at=arrived,
            )
        )
    return result


@dataclass(frozen=True)
class MessageEvidence:
    """What a node holds to prove one message of a request: the evidence document
    (``None`` if the message predates migration 9 or retention erased it), the receipt
    its recipient signed, and the refusals it signed (ours: refusals are kept by the
    sender), oldest first."""

    msg_id: str
    type: str
    sender: str
    recipient: str
    evidence: bytes | None
    receipt: bytes | None
    refusals: tuple[bytes, ...]


def evidence_of(conn: sqlite3.Connection, vault: Vault, request_id: str) -> list[MessageEvidence]:
    """Every message of a request, in order, with its decrypted evidence document."""
    if fetch_one(conn, "SELECT 1 AS found FROM requests WHERE id = ?", (request_id,)) is None:
        raise NotFound(f"no request {request_id!r} at this node")
    rows = fetch_all(
        conn,
        "SELECT msg_id, type, sender, recipient, receipt, evidence_key, evidence_doc"
        " FROM messages WHERE request_id = ? ORDER BY id",
        (request_id,),
    )
    found = []
    for row in rows:
        document = None
        if row["evidence_key"] is not None:
            record = evidence_record(row["sender"], row["msg_id"])
            document = vault.open(row["evidence_key"], row["evidence_doc"], record=record)
        refusals = fetch_all(
            conn, "SELECT refusal FROM refusals WHERE msg_id = ? ORDER BY id", (row["msg_id"],)
        )
        found.append(
            MessageEvidence(
                msg_id=row["msg_id"],
                type=row["type"],
                sender=row["sender"],
                recipient=row["recipient"],
                evidence=document,
                receipt=row["receipt"].encode() if row["receipt"] else None,
                refusals=tuple(r["refusal"].encode() for r in refusals),
            )
        )
    return found


_CONTENTS = (
    "SELECT request_id, sender, msg_id, type, content_key, content FROM messages"
    " WHERE request_id IN ({}) AND type IN ({}) AND content_key IS NOT NULL ORDER BY id"
)


def contents_of(
    conn: sqlite3.Connection, vault: Vault, request_ids: list[str], types: tuple[str, ...]
) -> dict[str, list[tuple[str, JsonObject]]]:
    """The decrypted contents of the requests' messages of these types, in order, as
    (type, content); erased ones are left out. For lists (references, handling)."""
    found: dict[str, list[tuple[str, JsonObject]]] = {r: [] for r in request_ids}
    for chunk in (request_ids[i : i + 400] for i in range(0, len(request_ids), 400)):
        marks = (",".join("?" * len(chunk)), ",".join("?" * len(types)))
        sql = _CONTENTS.format(*marks)  # fixed text; every value is a bound parameter
        rows = fetch_all(conn, sql, (*chunk, *types))
        for row in rows:
            record = f"message:{row['sender']}:{row['msg_id']}"
            try:
                content = json.loads(vault.open(row["content_key"], row["content"], record=record))
            except DecryptionFailed:  # its month's key is gone (a restored backup): the
                continue  # list still shows the row, without what it cannot read
            found[row["request_id"]].append((row["type"], content))
    return found


@dataclass(frozen=True)
class Traffic:
    """What a case's per-recipient table shows of a request's messages (never their
    contents): the last one, and how many of ours its other party has receipted."""

    last_type: str
    last_at: str
    sent: int  # our messages about the request
    receipted: int  # those whose signed receipt we hold

    def to_json(self) -> dict[str, object]:
        return {
            "last_message": {"type": self.last_type, "at": self.last_at},
            "receipts": {"held": self.receipted, "sent": self.sent},
        }


_TRAFFIC = """SELECT g.request_id, g.sent, g.receipted, m.type, m.created_at
    FROM (SELECT request_id, SUM(sender = ?) AS sent,
                 SUM(sender = ? AND receipt IS NOT NULL) AS receipted, MAX(id) AS last
          FROM messages WHERE request_id IN ({}) GROUP BY request_id) AS g
    JOIN messages AS m ON m.id = g.last"""


def traffic_of(conn: sqlite3.Connection, request_ids: list[str], *, me: str) -> dict[str, Traffic]:
    """Each request's ``Traffic`` (requests without messages are left out)."""
    found: dict[str, Traffic] = {}
    for chunk in (request_ids[i : i + 400] for i in range(0, len(request_ids), 400)):
        sql = _TRAFFIC.format(",".join("?" * len(chunk)))  # fixed text; values are bound
        for row in fetch_all(conn, sql, (me, me, *chunk)):
            found[row["request_id"]] = Traffic(
                row["type"], row["created_at"], row["sent"], row["receipted"]
            )
    return found
