"""The local JSON API (``/api/...``) used by the web UI and by scripts.

Handlers are thin: parse, check the role, call the service or the store,
render. Roles: investigators see the requests they created; liaison
prosecutors see every request and handle the inbox; auditors and admins
never see request contents.
"""

from __future__ import annotations

from aiohttp import web

from ...core import roles
from ...core.bodies import read_limited
from ...core.canonical import JsonObject, format_time, loads_object
from ...core.errors import Malformed, TooLarge, UnsupportedMediaType
from ...core.roles import Role
from ...service import drafts, follow_ups, requests, search
from ...service.forms import RequestForm, recipients_of
from ...service.node import Node
from ...service.sessions import User
from ..appkeys import NODE_KEY
from ..auth import check_same_site, give_cookie, log_in, logout, requires
from ..params import page_size

routes = web.RouteTableDef()


async def read_json(request: web.Request) -> JsonObject:
    node: Node = request.app[NODE_KEY]
    limit = node.config.limits.max_api_body_bytes
    if request.content_length is not None and request.content_length > limit:
        raise TooLarge(f"request body is larger than {limit} bytes")
    data = await read_limited(request.content, limit, "request body")
    return loads_object(data)


def _fields(body: JsonObject, required: tuple[str, ...], optional: tuple[str, ...] = ()) -> None:
    missing = [name for name in required if name not in body]
    if missing:
        raise Malformed(f"missing field(s): {', '.join(missing)}")
    unknown = set(body) - set(required) - set(optional)
    if unknown:
        raise Malformed(f"unknown field(s): {', '.join(sorted(unknown))}")
    for name in required:
        if not isinstance(body[name], str):
            raise Malformed(f"{name} must be a string")
    for name, value in body.items():
        if name in ("handling", "evaluation"):
            continue  # objects, checked field by field in core/handling.py
        if name == "attachments":
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise Malformed("attachments must be a list of attachment ids")
        elif value is not None and not isinstance(value, str):
            raise Malformed(f"{name} must be a string")


@routes.post("/api/login")
async def api_login(request: web.Request) -> web.Response:
    check_same_site(request)
    # A form on another site can post text/plain, urlencoded or multipart bodies
    # without a CORS preflight, never application/json (a charset parameter is fine).
    if request.content_type != "application/json":
        raise UnsupportedMediaType("send the login as application/json")
    body = await read_json(request)
    _fields(body, ("username", "password"))
    session = await log_in(request, body["username"], body["password"])
    user = session.user
    response = web.json_response(
        {"csrf_token": user.csrf_token, "username": user.username, "role": user.role}
    )
    give_cookie(request, response, session)
    return response


@routes.post("/api/logout")
@requires(*roles.ALL)
async def api_logout(request: web.Request, user: User) -> web.Response:
    await logout(request)
    response = web.json_response({"ok": True})
    response.del_cookie("exchange_session", path="/")
    return response


@routes.get("/api/me")
@requires(*roles.ALL)
async def api_me(request: web.Request, user: User) -> web.Response:
    node: Node = request.app[NODE_KEY]
    return web.json_response(
        {
            "username": user.username,
            "role": user.role,
            "authority_id": node.me,
            "csrf_token": user.csrf_token,
        }
    )


@routes.get("/api/directory")
@requires(*roles.ALL)
async def api_directory(request: web.Request, user: User) -> web.Response:
    node: Node = request.app[NODE_KEY]
    q = request.query
    directory = node.directory.held()
    try:
        limit = min(int(q.get("limit", "50")), 500)
    except ValueError as exc:
        raise Malformed("limit must be an integer") from exc
    found = node.directory.held_index().search(
        q.get("q", ""),
        country=q.get("country") or None,
        kind=q.get("kind") or None,
        language=q.get("language") or None,
        limit=limit,
    )
    return web.json_response(
        {
            "serial": directory.serial,
            "expires_at": format_time(directory.expires_at),
            "authorities": [a.to_json() for a in found],
        }
    )


@routes.post("/api/requests")
@requires(Role.INVESTIGATOR)
async def api_create_request(request: web.Request, user: User) -> web.Response:
    body, node = await read_json(request), request.app[NODE_KEY]
    if isinstance(body.get("to"), list):  # several recipients: one request each
        recipients = recipients_of(body["to"])
        form = RequestForm.of({**body, "to": recipients[0]})
        several = await requests.create_for_several(
            node, actor=user.username, form=form, recipients=recipients
        )
        return web.json_response(several.to_json(), status=201)
    created = await requests.create(node, actor=user.username, form=RequestForm.of(body))
    return web.json_response(created.to_json(), status=201)


@routes.post("/api/drafts")
@requires(Role.INVESTIGATOR)
async def api_save_draft(request: web.Request, user: User) -> web.Response:
    """Save a request without sending it: status draft, nothing leaves the node."""
    form = RequestForm.of(await read_json(request))
    saved = await drafts.save(request.app[NODE_KEY], actor=user.username, form=form)
    return web.json_response(saved.to_json(), status=201)


@routes.put("/api/drafts/{id}")
@requires(Role.INVESTIGATOR)
async def api_update_draft(request: web.Request, user: User) -> web.Response:
    """Replace the form of one of the user's own drafts."""
    form = RequestForm.of(await read_json(request))
    updated = await drafts.update(
        request.app[NODE_KEY], actor=user.username, request_id=request.match_info["id"], form=form
    )
    return web.json_response(updated.to_json())


@routes.delete("/api/drafts/{id}")
@requires(Role.INVESTIGATOR)
async def api_discard_draft(request: web.Request, user: User) -> web.Response:
    """Delete one of the user's own drafts; the audit log keeps that it was discarded."""
    node: Node = request.app[NODE_KEY]
    discarded = await drafts.discard(node, actor=user.username, request_id=request.match_info["id"])
    return web.json_response(discarded.to_json())


@routes.post("/api/requests/{id}/send")
@requires(Role.INVESTIGATOR)
async def api_send_draft(request: web.Request, user: User) -> web.Response:
    node: Node = request.app[NODE_KEY]
    sent = await drafts.send(node, actor=user.username, request_id=request.match_info["id"])
    return web.json_response(sent.to_json())


@routes.get("/api/requests")
@requires(*roles.CONTENT)
async def api_list_requests(request: web.Request, user: User) -> web.Response:
    """A page of the requests the user may see, newest first; ``next`` goes on."""
    node = request.app[NODE_KEY]
    q = request.query
    wanted = requests.board_filter(node, direction=q.get("direction"), kind=q.get("kind"))
    page = await requests.visible(node, user, wanted, cursor=q.get("cursor"), limit=page_size(q))
    return web.json_response({"requests": [r.to_json() for r in page.rows], "next": page.next})


@routes.get("/api/search")
@requires(*roles.CONTENT)
async def api_search(request: web.Request, user: User) -> web.Response:
    """A page of the requests holding every word of ``q`` that the user may see in the
    requests list, newest first; ``next`` goes on."""
    q = request.query
    found = await search.search_requests(
        request.app[NODE_KEY], user, q.get("q"), cursor=q.get("cursor"), limit=page_size(q)
    )
    return web.json_response({"requests": [r.to_json() for r in found.rows], "next": found.next})


@routes.get("/api/inbox")
@requires(Role.LIAISON)
async def api_inbox(request: web.Request, user: User) -> web.Response:
    """A page of received requests, nearest deadline first; ``next`` goes on."""
    q = request.query
    page = await requests.inbox(request.app[NODE_KEY], cursor=q.get("cursor"), limit=page_size(q))
    return web.json_response({"requests": [r.to_json() for r in page.rows], "next": page.next})


@routes.get("/api/requests/{id}")
@requires(*roles.CONTENT)
async def api_get_request(request: web.Request, user: User) -> web.Response:
    node: Node = request.app[NODE_KEY]
    detail = await requests.open_request(node, user, request.match_info["id"])
    return web.json_response(detail.to_json())


@routes.post("/api/requests/{id}/acknowledge")
@requires(Role.LIAISON)
async def api_acknowledge(request: web.Request, user: User) -> web.Response:
    return await _follow_up(request, user, "acknowledgement", (), ("reference",))


@routes.post("/api/requests/{id}/responses")
@requires(Role.LIAISON)
async def api_respond(request: web.Request, user: User) -> web.Response:
    optional = ("language", "attachments", "handling", "evaluation")
    return await _follow_up(request, user, "response", ("body",), optional)


@routes.post("/api/requests/{id}/reject")
@requires(Role.LIAISON)
async def api_reject(request: web.Request, user: User) -> web.Response:
    return await _follow_up(request, user, "rejection", ("reason",), ())


async def _follow_up(
    request: web.Request,
    user: User,
    msg_type: str,
    required: tuple[str, ...],
    optional: tuple[str, ...],
) -> web.Response:
    body = await read_json(request) if request.can_read_body else {}
    _fields(body, required, optional)
    node, request_id = request.app[NODE_KEY], request.match_info["id"]
    updated = await follow_ups.follow_up(node, user, request_id, msg_type, body)
    return web.json_response({"id": updated.id, "status": updated.status})


@routes.get("/api/openapi.json")
async def api_openapi(request: web.Request) -> web.Response:
    from .openapi import OPENAPI

    return web.json_response(OPENAPI)


@routes.post("/api/requests/{id}/close")
@requires(*roles.CONTENT)
async def api_close(request: web.Request, user: User) -> web.Response:
    """Close an answered request (investigators: their own sent ones; liaison: any)."""
    closed = await requests.close(request.app[NODE_KEY], user, request.match_info["id"])
    return web.json_response({"id": closed.id, "status": closed.status})
