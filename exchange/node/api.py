"""The local JSON API (``/api/...``) used by the web UI and by scripts.

Handlers are thin: parse, check the role, call the service or the store,
render. Roles: investigators see the requests they created; liaison
prosecutors see every request and handle the inbox; auditors and admins
never see request contents.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from aiohttp import web

from ..core import cursor as cursors
from ..core.canonical import format_time, loads_object
from ..core.content import attachments_of
from ..core.errors import InvalidRequest, Malformed, NotFound, TooLarge
from ..store import audit as audit_store
from ..store import request_lists
from ..store import requests as store
from ..store.db import transaction
from ..store.request_lists import RequestFilter
from .auth import LOGIN_GATE_KEY, NODE_KEY, User, login, logout, requires, set_session_cookie
from .bodies import read_limited
from .deadlines_api import annotate
from .service import Node

ALL_ROLES = ("investigator", "liaison", "auditor", "admin")
CONTENT_ROLES = ("investigator", "liaison")
routes = web.RouteTableDef()


async def read_json(request: web.Request) -> dict[str, Any]:
    node: Node = request.app[NODE_KEY]
    limit = node.config.limits.max_api_body_bytes
    if request.content_length is not None and request.content_length > limit:
        raise TooLarge(f"request body is larger than {limit} bytes")
    data = await read_limited(request.content, limit, "request body")
    return loads_object(data)


def _fields(
    body: dict[str, Any], required: tuple[str, ...], optional: tuple[str, ...] = ()
) -> None:
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
        if name == "attachments":
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise Malformed("attachments must be a list of attachment ids")
        elif value is not None and not isinstance(value, str):
            raise Malformed(f"{name} must be a string")


@routes.post("/api/login")
async def api_login(request: web.Request) -> web.Response:
    node: Node = request.app[NODE_KEY]
    body = await read_json(request)
    _fields(body, ("username", "password"))
    token, csrf, user = await login(
        node,
        body["username"],
        body["password"],
        gate=request.app[LOGIN_GATE_KEY],
        client=request.remote or "unknown",
    )
    response = web.json_response({"csrf_token": csrf, "username": user.username, "role": user.role})
    set_session_cookie(
        response,
        token,
        secure=request.secure,
        max_age=int(node.config.session.lifetime.total_seconds()),
    )
    return response


@routes.post("/api/logout")
@requires(*ALL_ROLES)
async def api_logout(request: web.Request, user: User) -> web.Response:
    await logout(request.app[NODE_KEY], request)
    response = web.json_response({"ok": True})
    response.del_cookie("exchange_session", path="/")
    return response


@routes.get("/api/me")
@requires(*ALL_ROLES)
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
@requires(*ALL_ROLES)
async def api_directory(request: web.Request, user: User) -> web.Response:
    node: Node = request.app[NODE_KEY]
    q = request.query
    directory = node.directory.require()
    try:
        limit = min(int(q.get("limit", "50")), 500)
    except ValueError as exc:
        raise Malformed("limit must be an integer") from exc
    found = node.directory.require_index().search(
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


REQUEST_FIELDS = (
    ("to", "kind", "urgency", "subject", "body", "language"),
    ("deadline", "attachments"),
)


@routes.post("/api/requests")
@requires("investigator")
async def api_create_request(request: web.Request, user: User) -> web.Response:
    node: Node = request.app[NODE_KEY]
    body = await read_json(request)
    _fields(body, *REQUEST_FIELDS)
    created = await node.create_request(actor=user.username, **body)
    return web.json_response(created, status=201)


@routes.post("/api/drafts")
@requires("investigator")
async def api_save_draft(request: web.Request, user: User) -> web.Response:
    """Save a request without sending it: status draft, nothing leaves the node."""
    node: Node = request.app[NODE_KEY]
    body = await read_json(request)
    _fields(body, *REQUEST_FIELDS)
    return web.json_response(await node.save_draft(actor=user.username, **body), status=201)


@routes.put("/api/drafts/{id}")
@requires("investigator")
async def api_update_draft(request: web.Request, user: User) -> web.Response:
    """Replace the form of one of the user's own drafts."""
    node: Node = request.app[NODE_KEY]
    body = await read_json(request)
    _fields(body, *REQUEST_FIELDS)
    updated = await node.update_draft(
        actor=user.username, request_id=request.match_info["id"], **body
    )
    return web.json_response(updated)


@routes.delete("/api/drafts/{id}")
@requires("investigator")
async def api_discard_draft(request: web.Request, user: User) -> web.Response:
    """Delete one of the user's own drafts; the audit log keeps that it was discarded."""
    node: Node = request.app[NODE_KEY]
    discarded = await node.discard_draft(actor=user.username, request_id=request.match_info["id"])
    return web.json_response(discarded)


@routes.post("/api/requests/{id}/send")
@requires("investigator")
async def api_send_draft(request: web.Request, user: User) -> web.Response:
    node: Node = request.app[NODE_KEY]
    sent = await node.send_draft(actor=user.username, request_id=request.match_info["id"])
    return web.json_response(sent)


PAGE_SIZE = 100
MAX_PAGE_SIZE = 500


def page_size(query: Mapping[str, str]) -> int:
    """``limit``: rows per page, from 1 to 500 (more counts as 500); 100 when absent."""
    text = query.get("limit")
    if text is None:
        return PAGE_SIZE
    if not (text.isascii() and text.isdigit()) or len(text) > 9 or int(text) < 1:
        raise Malformed("limit must be a whole number from 1 to 500")
    return min(int(text), MAX_PAGE_SIZE)


@routes.get("/api/requests")
@requires(*CONTENT_ROLES)
async def api_list_requests(request: web.Request, user: User) -> web.Response:
    """A page of the requests the user may see, newest first; ``next`` goes on."""
    node: Node = request.app[NODE_KEY]
    q = request.query
    direction = q.get("direction")
    if direction not in (None, "in", "out"):
        raise Malformed("direction must be 'in' or 'out'")
    wanted = RequestFilter(direction=direction)
    page = await visible_requests(node, user, wanted, cursor=q.get("cursor"), limit=page_size(q))
    return web.json_response(page)


async def visible_requests(
    node: Node, user: User, wanted: RequestFilter, *, cursor: str | None, limit: int
) -> dict[str, Any]:
    """A page of the request rows the user may see, newest first: ``{"requests",
    "next"}``, ``next`` the cursor of the following page (None on the last).

    The rules of ``_check_visible``, in the query's WHERE clause: investigators see
    the requests they created (sent ones), and a draft is listed to its author only."""
    after = _position(cursor, "requests")
    author = None
    if user.role == "investigator":
        wanted, author = replace(wanted, direction="out"), user.username
    page = await node.db.run(
        lambda c: request_lists.newest_first(
            c, wanted, drafts_of=user.username, author=author, after=after, limit=limit
        )
    )
    return _listed(node, page, "requests")


@routes.get("/api/inbox")
@requires("liaison")
async def api_inbox(request: web.Request, user: User) -> web.Response:
    """A page of received requests, nearest deadline first; ``next`` goes on."""
    q = request.query
    page = await inbox(request.app[NODE_KEY], cursor=q.get("cursor"), limit=page_size(q))
    return web.json_response(page)


async def inbox(node: Node, *, cursor: str | None, limit: int) -> dict[str, Any]:
    """A page of received requests, nearest deadline first (those without one last):
    ``{"requests", "next"}`` as ``visible_requests``."""
    after = _position(cursor, "inbox")
    page = await node.db.run(
        lambda c: request_lists.nearest_deadline_first(c, after=after, limit=limit)
    )
    return _listed(node, page, "inbox")


def _position(cursor: str | None, list_name: str) -> cursors.Position | None:
    return cursors.decode(cursor, list_name) if cursor else None


def _listed(node: Node, page: request_lists.Page, list_name: str) -> dict[str, Any]:
    rows = annotate(page.rows, node, node.clock.now())
    following = cursors.encode(list_name, page.after) if page.after is not None else None
    return {"requests": rows, "next": following}


@routes.get("/api/requests/{id}")
@requires(*CONTENT_ROLES)
async def api_get_request(request: web.Request, user: User) -> web.Response:
    node: Node = request.app[NODE_KEY]
    return web.json_response(await open_request(node, user, request.match_info["id"]))


async def open_request(node: Node, user: User, request_id: str) -> dict[str, Any]:
    """A request with its timeline and decrypted messages; opening it is audited.

    Attachments are listed beside each message's content (``attachments``), without
    the keys the sealed content carries for them.
    """
    view = await load_request(node, user, request_id, audit_action="request_opened")
    for message in view["messages"]:
        entries = attachments_of(message["content"])
        message["content"].pop("attachments", None)
        message["attachments"] = [e.public() for e in entries]
    return annotate([view], node, node.clock.now())[0]


async def load_request(
    node: Node, user: User, request_id: str, *, audit_action: str | None = None
) -> dict[str, Any]:
    """The request, its timeline and its decrypted messages, if the user may see them."""

    def read(conn: Any) -> dict[str, Any]:
        row = store.get_request(conn, request_id)
        _check_visible(row, user)
        if audit_action is not None:
            with transaction(conn):
                audit_store.append(
                    conn,
                    at=node.clock.now(),
                    authority=node.me,
                    action=audit_action,
                    actor=user.username,
                    request_id=request_id,
                )
        view = {
            **row,
            "timeline": store.timeline(conn, request_id),
            "messages": store.messages(conn, node.vault, request_id),
        }
        if row["status"] == "draft":
            view["draft"] = store.read_draft(conn, node.vault, request_id)
        return view

    return await node.db.run(read)


def _check_visible(row: dict[str, Any], user: User) -> None:
    mine = row["created_by"] == user.username
    if (user.role == "investigator" or row["status"] == "draft") and not mine:
        # Same answer as for a missing request: do not reveal what exists.
        raise NotFound("no such request")


@routes.post("/api/requests/{id}/acknowledge")
@requires("liaison")
async def api_acknowledge(request: web.Request, user: User) -> web.Response:
    return await _follow_up(request, user, "acknowledgement", (), ())


@routes.post("/api/requests/{id}/responses")
@requires("liaison")
async def api_respond(request: web.Request, user: User) -> web.Response:
    return await _follow_up(request, user, "response", ("body",), ("language", "attachments"))


@routes.post("/api/requests/{id}/reject")
@requires("liaison")
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
    updated = await follow_up(request.app[NODE_KEY], user, request.match_info["id"], msg_type, body)
    return web.json_response({"id": updated["id"], "status": updated["status"]})


async def follow_up(
    node: Node, user: User, request_id: str, msg_type: str, fields: dict[str, Any]
) -> dict[str, Any]:
    """Acknowledge, answer or reject a received request (a response keeps its language)."""
    row = await node.db.run(lambda c: store.get_request(c, request_id))
    if msg_type == "response" and "language" not in fields:
        fields = {**fields, "language": row["language"]}
    if row["direction"] != "in":
        raise InvalidRequest("only received requests can be acknowledged, answered or rejected")
    return await node.follow_up(
        actor=user.username, request_id=request_id, msg_type=msg_type, fields=fields
    )


@routes.get("/api/openapi.json")
async def api_openapi(request: web.Request) -> web.Response:
    from .openapi import OPENAPI

    return web.json_response(OPENAPI)


@routes.post("/api/requests/{id}/close")
@requires(*CONTENT_ROLES)
async def api_close(request: web.Request, user: User) -> web.Response:
    """Close an answered request (investigators: their own sent ones; liaison: any)."""
    closed = await close_request(request.app[NODE_KEY], user, request.match_info["id"])
    return web.json_response({"id": closed["id"], "status": closed["status"]})


async def close_request(node: Node, user: User, request_id: str) -> dict[str, Any]:
    def close(conn: Any) -> dict[str, Any]:
        row = store.get_request(conn, request_id)
        _check_visible(row, user)
        return store.close_request(
            conn, me=node.me, request_id=request_id, actor=user.username, now=node.clock.now()
        )

    return await node.db.run(close)
