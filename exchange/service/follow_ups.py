"""Follow-ups: our messages about a request, by our side's rules (the recipient's
acknowledgement, questions, answers, rejection or transfer; the requester's
clarification, withdrawal or reminder; either side's consent request and consent),
sealed to the other party."""

from __future__ import annotations

from datetime import datetime

import structlog

from ..core import content as contents
from ..core.canonical import JsonObject, parse_time
from ..core.errors import Forbidden, InvalidRequest, WrongParty
from ..core.handling import DEFAULT, request_conditions
from ..core.lifecycle import Party, Status, allowed_messages, check_message, own_party
from ..core.roles import Role
from ..store import messages as message_store
from ..store import requests as store
from ..store.messages import OutgoingMessage
from ..store.rows import MessageView, RequestRow
from . import sealing
from .node import Node
from .requests import check_visible
from .sessions import User

log = structlog.get_logger("exchange.service")

# Message types that may carry evidence files: answers, final or partial.
ATTACHING = frozenset({"response", "partial_response"})


async def follow_up(
    node: Node, user: User, request_id: str, msg_type: str, fields: JsonObject
) -> RequestRow:
    """Send one message about a request (a response keeps the request's language
    unless it names another). The recipient's side is the liaison's to speak for;
    the requester's, the investigator who sent it or a liaison."""
    actor = user.username
    now = node.clock.now()
    row = await node.db.run(lambda c: store.request_row(c, request_id))
    party = own_party(row.direction)
    _check_role(row, user, party)
    try:
        check_message(
            msg_type, party=party, direction=row.direction, status=row.status, kind=row.kind
        )
    except WrongParty as exc:  # our own side: the user asked for what it never sends
        raise InvalidRequest(exc.message) from None
    fields = dict(fields)
    if msg_type in ATTACHING and "language" not in fields:
        fields["language"] = row.language
    if msg_type in ATTACHING and "handling" not in fields:  # a response, final or partial
        fields["handling"] = await request_handling(node, request_id)
    wanted = fields.pop("attachments", None) or []
    content = contents.follow_up_content(msg_type, origin=row.origin, msg_id=row.msg_id, **fields)
    if wanted and msg_type not in ATTACHING:
        raise InvalidRequest("only a response can carry attachments")
    contents.validate(msg_type, content, max_body_chars=node.config.limits.max_body_chars)
    # never signed before the request it answers (a peer refuses that: bad_time),
    # even when the requester's clock runs a little ahead of ours
    signed_at = max(now, parse_time(row.created_at))
    forwarded = None
    if msg_type == "transfer":
        forwarded = await _forwarded(node, row, content["to"], signed_at)
    ids = await sealing.with_attachments(node, content, wanted, owner=actor)
    message = sealing.seal_message(
        node,
        msg_type,
        content,
        recipient_id=row.counterpart,
        now=signed_at,
        log_size=await sealing.log_size_now(node),
        emergency=row.urgency == "emergency",
    )
    await node.db.run(
        lambda c: store.add_follow_up(
            c,
            node.vault,
            me=node.me,
            request_id=request_id,
            message=message,
            actor=actor,
            now=now,
            attachment_ids=ids,
            forwarded=forwarded,
        )
    )
    log.info("follow_up_queued", request_id=request_id, type=msg_type)
    node.wake_delivery(message.recipient)
    if forwarded is not None:  # a transfer: the request to its new holder too
        node.wake_delivery(forwarded.recipient)
    node.wake_deadlines()
    return await node.db.run(lambda c: store.request_row(c, request_id))


async def request_handling(node: Node, request_id: str) -> JsonObject:
    """The request's conditions of use, which a response keeps unless it names its own
    (the strict default for a request that carried none, or was erased)."""
    types = ("request",)
    found = await node.db.run(
        lambda c: message_store.contents_of(c, node.vault, [request_id], types)
    )
    handling = request_conditions(found[request_id])["handling"]
    return handling if isinstance(handling, dict) else DEFAULT.to_json()


# The request page's older forms (acknowledge, answer, reject) stay as they were.
OLDER_FORMS = ("acknowledgement", "response", "rejection")


def available(row: RequestRow, user: User) -> list[str]:
    """What this user may send about the request now (what the page offers): the
    recipient's side is the liaison's to speak for; the requester's, its
    investigator's or a liaison's. A reminder's interval and an open consent request
    are checked when one is sent."""
    party = own_party(row.direction)
    if row.status is Status.DRAFT or (party is Party.RECIPIENT and user.role is not Role.LIAISON):
        return []
    return allowed_messages(party=party, direction=row.direction, status=row.status, kind=row.kind)


def open_consent_requests(messages: list[MessageView], me: str) -> list[str]:
    """The other party's consent requests not yet answered: what a consent answers."""
    answered = {m.content.get("about") for m in messages if m.type == "consent"}
    return [
        m.msg_id
        for m in messages
        if m.type == "consent_request" and m.sender != me and m.msg_id not in answered
    ]


def _check_role(row: RequestRow, user: User, party: Party) -> None:
    check_visible(row, user)  # first: what a user may not see does not exist for them
    if party is Party.RECIPIENT and user.role is not Role.LIAISON:
        raise Forbidden("only a liaison prosecutor answers for a received request")


async def _forwarded(node: Node, row: RequestRow, to: str, now: datetime) -> OutgoingMessage:
    """The request sealed again to its new holder, naming the original (its requester's
    origin and message id), so the new holder answers the requester itself."""
    node.peer(to)  # in the directory, and not this node
    views = await node.db.run(lambda c: message_store.messages(c, node.vault, row.id))
    original = next(v.content for v in views if v.type == "request")
    if "attachments" in original or original.get("erased"):
        raise InvalidRequest("a request with attachments or erased content is not transferred")
    content = {k: v for k, v in original.items() if k != "transfer"}
    content["transfer"] = {"origin": row.origin, "msg_id": row.msg_id}
    limit = node.config.limits.max_body_chars
    contents.validate("request", content, max_body_chars=limit)
    return sealing.seal_message(
        node,
        "request",
        content,
        recipient_id=to,
        now=now,
        log_size=await sealing.log_size_now(node),
        emergency=row.urgency == "emergency",
    )
