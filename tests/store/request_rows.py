"""Request rows made fast through the store's own writes, for tests of long lists."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from exchange.core import ids
from exchange.core.canonical import format_time
from exchange.store.inbound import Arrival
from exchange.store.messages import IncomingMessage, OutgoingMessage


def content(urgency: str = "urgent", deadline: datetime | None = None) -> dict[str, Any]:
    return {
        "kind": "information_request",
        "urgency": urgency,
        "language": "en",
        "subject": "Vessel",
        "body": "Who owns it?",
        "deadline": format_time(deadline) if deadline else None,
    }


def arrival(
    *,
    sender: str,
    created_at: datetime,
    deadline: datetime | None,
    urgency: str = "urgent",
    request_id: str | None = None,
) -> Arrival:
    """A request received from ``sender`` (signed at ``created_at``), as the node
    stores an accepted envelope."""
    msg_id = ids.message_id()
    message = IncomingMessage(
        msg_id=msg_id,
        type="request",
        sender=sender,
        created_at=created_at,
        content=content(urgency, deadline),
        envelope_sha256=msg_id * 2,
        evidence={"header": {"msg_id": msg_id}},
    )
    return Arrival(message, request_id or ids.request_id(), None, None)


def issue(messages: Sequence[IncomingMessage]) -> list[bytes]:
    """Stand-in receipts for the messages stored (the node signs real ones)."""
    return [b'{"receipt_for": "%s"}' % m.msg_id.encode() for m in messages]


def reply(kind: str, *, to: str, at: datetime) -> OutgoingMessage:
    """Our acknowledgement, response or rejection of a request from ``to``."""
    return OutgoingMessage(
        msg_id=ids.message_id(),
        type=kind,
        recipient=to,
        created_at=at,
        content={"body": "Answered", "language": "en"},
        envelope=b"{}",
        envelope_sha256="0" * 64,
        expires_at=at + timedelta(days=1),
    )


def sent(
    *, to: str, at: datetime, deadline: datetime | None, urgency: str = "urgent"
) -> OutgoingMessage:
    """A request of ours to ``to``, sealed (its envelope stands in) and ready to queue."""
    return OutgoingMessage(
        msg_id=ids.message_id(),
        type="request",
        recipient=to,
        created_at=at,
        content=content(urgency, deadline),
        envelope=b"{}",
        envelope_sha256="0" * 64,
        expires_at=at + timedelta(days=1),
    )
