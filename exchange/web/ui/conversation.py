"""The request page's conversation: the messages each party may send now (only
those), and the form that sends one (``POST /requests/{id}/messages``), over the
same use case as the JSON API (``service.follow_ups``)."""

from __future__ import annotations

from urllib.parse import quote

from aiohttp import web

from ...core.errors import InvalidRequest
from ...core.roles import Role
from ...service import follow_ups
from ...service.sessions import User
from ..appkeys import NODE_KEY
from .render import page

routes = web.RouteTableDef()

# Each type's form fields, as the page posts them.
FORM_FIELDS: dict[str, tuple[str, ...]] = {
    "acknowledgement": (),
    "clarification_request": ("body",),
    "clarification": ("body",),
    "partial_response": ("body",),
    "response": ("body",),
    "rejection": ("reason",),
    "transfer": ("to", "body"),
    "withdrawal": ("body",),
    "reminder": ("body",),
    "consent_request": ("purpose", "body"),
    "consent": ("about", "granted", "body"),
}


@routes.post("/requests/{id}/messages")
@page(Role.INVESTIGATOR, Role.LIAISON)
async def message_action(request: web.Request, user: User) -> web.StreamResponse:
    request_id = request.match_info["id"]
    posted = await request.post()
    msg_type = str(posted.get("type", ""))
    if msg_type not in FORM_FIELDS:
        raise InvalidRequest("unknown message type")
    fields: dict[str, object] = {
        name: str(posted.get(name, "")).strip() for name in FORM_FIELDS[msg_type]
    }
    if msg_type == "consent":
        fields["granted"] = fields["granted"] == "yes"
    await follow_ups.follow_up(request.app[NODE_KEY], user, request_id, msg_type, fields)
    raise web.HTTPSeeOther(f"/requests/{quote(request_id)}?done=1")
