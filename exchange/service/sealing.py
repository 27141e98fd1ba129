"""Sealing what we send: a request's fields checked and its deadline computed, the
content signed and encrypted for its recipient only, attachments claimed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import structlog

from ..core import content as contents
from ..core import ids
from ..core.canonical import JsonObject, format_time, parse_time, sha256_hex
from ..core.deadlines import DeadlineFacts, initial_plan
from ..core.envelope import seal
from ..core.errors import InvalidRequest
from ..core.lifecycle import expects_answer
from ..store import audit
from ..store import evidence as evidence_store
from ..store.deadlines import NEVER
from ..store.messages import OutgoingMessage
from ..store.read_only import ReadOnly
from .forms import RequestForm
from .node import Node

log = structlog.get_logger("exchange.service")


@dataclass(frozen=True)
class Outcome:
    """What a user is told of a request they created, sent or saved."""

    id: str
    status: str
    msg_id: str | None = None  # the sealed message's id, once there is one
    case_id: str | None = None  # the case it is filed in, once sent

    def to_json(self) -> dict[str, str]:
        shown = {"id": self.id, "status": self.status}
        shown |= {"msg_id": self.msg_id} if self.msg_id else {}
        return shown | ({"case_id": self.case_id} if self.case_id else {})


@dataclass(frozen=True)
class Sealed:
    """A request ready to store: the sealed message and what goes with it."""

    message: OutgoingMessage
    attachment_ids: list[str]
    plan: tuple[str, str] | None
    check_at: datetime | None


async def prepare_request(
    node: Node, form: RequestForm, *, actor: str, now: datetime, case: JsonObject | None = None
) -> Sealed:
    """Check a request's fields, compute its deadline and seal it for the recipient;
    ``case``: the shared case's global id, for a recipient that is a member of it."""
    recipient = node.peer(form.to)
    urgency = form.urgency
    contents.check_deadline(form.kind, form.deadline)
    own_deadline = parse_time(form.deadline, field="deadline") if form.deadline else None
    if own_deadline is not None and own_deadline <= now:
        raise InvalidRequest("deadline must be in the future")
    default = now + node.config.deadlines.get(urgency, node.config.deadlines["standard"])
    effective: datetime | None = min(own_deadline, default) if own_deadline else default
    if not expects_answer(form.kind):  # spontaneous information: no clock runs
        effective = None
    content = contents.request_content(
        kind=form.kind,
        urgency=urgency,
        language=form.language,
        subject=form.subject,
        body=form.body,
        deadline=effective,
        max_body_chars=node.config.limits.max_body_chars,
        conditions=form.conditions() | ({"case": case} if case else {}),
    )
    ids = await with_attachments(node, content, list(form.attachments), owner=actor)
    message = seal_message(
        node,
        "request",
        content,
        recipient_id=recipient.authority_id,
        now=now,
        log_size=await log_size_now(node),
        emergency=urgency == "emergency",
    )
    plan, check_at = deadline_plan(node, urgency, now, effective, now)
    return Sealed(message, ids, plan, check_at)


async def log_size_now(node: Node) -> int:
    """Our audit log's size, for an envelope to sign: read before the message's own
    entry is appended, so it is never more than any checkpoint we sign later. One
    SELECT: a read-only job (no savepoint in a group; on PostgreSQL, no write lock)."""
    return await node.db.run(ReadOnly(audit.size))


def queued(
    node: Node, request_id: str, sealed: Sealed, urgency: str, case_id: str | None = None
) -> Outcome:
    """Tell the workers of a request just queued: delivery, and its deadline's clock."""
    log.info(
        "request_queued", request_id=request_id, peer=sealed.message.recipient, urgency=urgency
    )
    node.wake_delivery(sealed.message.recipient)
    node.notice_deadline(sealed.check_at)
    return Outcome(request_id, "queued", sealed.message.msg_id, case_id)


async def with_attachments(
    node: Node, content: JsonObject, ids: list[str], *, owner: str
) -> list[str]:
    """Put the manifest of the user's own unsent uploads into the content."""
    if not ids:
        return []
    entries = await node.db.run(lambda c: evidence_store.claim(c, node.vault, ids, owner=owner))
    content["attachments"] = [e.to_json() for e in entries]
    return ids


def deadline_plan(
    node: Node, urgency: str, created_at: datetime, deadline: datetime | None, now: datetime
) -> tuple[tuple[str, str] | None, datetime | None]:
    """A new request's deadline state and next check, so no sweep must write now."""
    if deadline is None:
        return None, None
    facts = DeadlineFacts(urgency, created_at, deadline)
    state, check_at = initial_plan(facts, node.config.escalation.policy(), now)
    return (state.value, format_time(check_at) if check_at else NEVER), check_at


def seal_message(
    node: Node,
    msg_type: str,
    content: JsonObject,
    *,
    recipient_id: str,
    now: datetime,
    log_size: int,
    emergency: bool = False,
) -> OutgoingMessage:
    """Seal one message; ``log_size`` is our audit log's size now (``log_size_now``),
    which the envelope signs."""
    recipient = node.peer(recipient_id)
    msg_id = ids.message_id()
    sealed = seal(
        content,
        msg_type=msg_type,
        msg_id=msg_id,
        sender_id=node.me,
        sender_key=node.signing_key(now),
        recipient=recipient,
        now=now,
        log_size=log_size,
    )
    return OutgoingMessage(
        msg_id=msg_id,
        type=msg_type,
        recipient=recipient_id,
        created_at=now,
        content=content,
        envelope=sealed.data,
        envelope_sha256=sha256_hex(sealed.data),
        content_json=sealed.content_json,
        evidence_json=sealed.evidence_json,
        expires_at=now + node.config.delivery.give_up_after,
        emergency=emergency,
    )
