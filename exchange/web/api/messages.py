"""``POST /api/requests/{id}/messages``: one route for every message of the
conversation about a request, ``{"type": ..., "body": ...}`` with the fields each
type needs. The older routes (acknowledge, responses, reject) stay as aliases."""

from __future__ import annotations

from aiohttp import web

from ...core import roles
from ...core.errors import Malformed
from ...service import follow_ups
from ...service.sessions import User
from ..appkeys import NODE_KEY
from ..auth import requires
from .requests import _fields, read_json

routes = web.RouteTableDef()

# Each type's (required, optional) string fields; ``granted`` (consent) is a boolean.
MESSAGE_FIELDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "acknowledgement": ((), ("reference",)),  # our own file number, as /acknowledge
    "clarification_request": (("body",), ()),
    "clarification": (("body",), ()),
    "partial_response": (("body",), ("language", "attachments", "handling", "evaluation")),
    "response": (("body",), ("language", "attachments", "handling", "evaluation")),
    "rejection": (("reason",), ()),
    "transfer": (("to", "body"), ()),
    "withdrawal": (("body",), ()),
    "reminder": ((), ("body",)),
    "consent_request": (("purpose", "body"), ()),
    "consent": (("about",), ("body",)),
}


@routes.post("/api/requests/{id}/messages")
@requires(*roles.CONTENT)
async def api_message(request: web.Request, user: User) -> web.Response:
    """Send one message of the conversation; who may send which, when, is the
    lifecycle's (``core.lifecycle.check_message``) and the service's to say."""
    body = await read_json(request)
    msg_type = body.pop("type", None)
    if not isinstance(msg_type, str) or msg_type not in MESSAGE_FIELDS:
        raise Malformed("type must be one of " + ", ".join(MESSAGE_FIELDS))
    if msg_type == "rejection" and "reason" not in body and "body" in body:
        body["reason"] = body.pop("body")  # every type's text may be called body
    granted = body.pop("granted", None) if msg_type == "consent" else None
    if msg_type == "consent" and not isinstance(granted, bool):
        raise Malformed("granted must be true or false")
    required, optional = MESSAGE_FIELDS[msg_type]
    _fields(body, required, optional)
    if msg_type in ("reminder", "consent"):
        body.setdefault("body", "")
    if granted is not None:
        body["granted"] = granted
    node, request_id = request.app[NODE_KEY], request.match_info["id"]
    updated = await follow_ups.follow_up(node, user, request_id, msg_type, body)
    return web.json_response(
        {"id": updated.id, "status": updated.status, "counterpart": updated.counterpart}
    )
