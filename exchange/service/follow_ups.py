"""Follow-ups: our acknowledgement, response or rejection of a request we received,
sealed back to the authority that sent it."""

from __future__ import annotations

import structlog

from ..core import content as contents
from ..core.canonical import JsonObject, parse_time
from ..core.errors import InvalidRequest
from ..core.handling import DEFAULT, request_conditions
from ..core.lifecycle import check_reply
from ..store import messages as message_store
from ..store import requests as store
from ..store.requests import FOLLOW_UP_EVENTS
from ..store.rows import RequestRow
from . import sealing
from .node import Node
from .sessions import User

log = structlog.get_logger("exchange.service")


async def follow_up(
    node: Node, user: User, request_id: str, msg_type: str, fields: JsonObject
) -> RequestRow:
    """Acknowledge, answer or reject a request we received (a response keeps the
    request's language unless it names another)."""
    actor = user.username
    now = node.clock.now()
    row = await node.db.run(lambda c: store.request_row(c, request_id))
    check_reply(row.direction, row.status, FOLLOW_UP_EVENTS[msg_type])
    fields = dict(fields)
    if msg_type == "response" and "language" not in fields:
        fields["language"] = row.language
    if msg_type == "response" and "handling" not in fields:
        fields["handling"] = await request_handling(node, request_id)
    wanted = fields.pop("attachments", None) or []
    content = contents.follow_up_content(msg_type, origin=row.origin, msg_id=row.msg_id, **fields)
    if wanted and msg_type != "response":
        raise InvalidRequest("only a response can carry attachments")
    ids = await sealing.with_attachments(node, content, wanted, owner=actor)
    contents.validate(msg_type, content, max_body_chars=node.config.limits.max_body_chars)
    message = sealing.seal_message(
        node,
        msg_type,
        content,
        recipient_id=row.counterpart,
        # never signed before the request it answers (a peer refuses that: bad_time),
        # even when the requester's clock runs a little ahead of ours
        now=max(now, parse_time(row.created_at)),
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
        )
    )
    log.info("follow_up_queued", request_id=request_id, type=msg_type)
    node.wake_delivery()
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
