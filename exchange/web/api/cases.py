"""The local JSON API of cases (``/api/cases``): open, list a page at a time, view,
close. Investigators open cases and see theirs; liaison prosecutors see every case;
auditors and admins see none (as for requests)."""

from __future__ import annotations

from aiohttp import web

from ...core import roles
from ...core.errors import Malformed
from ...core.roles import Role
from ...service import cases, search, sharing
from ...service.node import Node
from ...service.sessions import User
from ..appkeys import NODE_KEY
from ..auth import requires
from ..params import page_size
from .requests import read_json

routes = web.RouteTableDef()


@routes.post("/api/cases")
@requires(Role.INVESTIGATOR)
async def api_open_case(request: web.Request, user: User) -> web.Response:
    opened = await cases.open_case(request.app[NODE_KEY], user, await read_json(request))
    return web.json_response(opened.to_json(), status=201)


@routes.get("/api/cases")
@requires(*roles.CONTENT)
async def api_list_cases(request: web.Request, user: User) -> web.Response:
    """A page of the cases the user may see, newest first; ``next`` goes on."""
    node: Node = request.app[NODE_KEY]
    q = request.query
    overdue = q.get("overdue", "")
    if overdue not in ("", "true", "false"):
        raise Malformed("overdue must be 'true' or 'false'")
    shared = q.get("shared", "")
    if shared not in ("", "0", "1"):
        raise Malformed("shared must be '0' or '1'")
    wanted = cases.case_filter(
        node,
        status=q.get("status") or None,
        authority=q.get("authority") or None,
        country=q.get("country") or None,
        overdue=overdue == "true",
        shared=shared == "1",
    )
    text, cursor, limit = q.get("text"), q.get("cursor"), page_size(q)
    if text is not None:  # the sealed titles: the in-memory index (service/search.py)
        page = await search.filter_cases(node, user, text, wanted, cursor=cursor, limit=limit)
    else:
        page = await cases.list_cases(node, user, wanted, cursor=cursor, limit=limit)
    return web.json_response({"cases": [c.to_json() for c in page.rows], "next": page.next})


@routes.get("/api/cases/{id}")
@requires(*roles.CONTENT)
async def api_get_case(request: web.Request, user: User) -> web.Response:
    view = await cases.case_view(request.app[NODE_KEY], user, request.match_info["id"])
    return web.json_response(view.to_json())


@routes.post("/api/cases/{id}/close")
@requires(*roles.CONTENT)
async def api_close_case(request: web.Request, user: User) -> web.Response:
    """Close a case none of whose requests awaits an answer."""
    closed = await cases.close_case(request.app[NODE_KEY], user, request.match_info["id"])
    return web.json_response({"id": closed.id, "status": closed.status.value})


@routes.post("/api/cases/{id}/members")
@requires(*roles.CONTENT)
async def api_invite(request: web.Request, user: User) -> web.Response:
    """Invite an authority of the directory to a case we opened (its investigator or a
    liaison prosecutor): ``{"authority": id}``."""
    node: Node = request.app[NODE_KEY]
    case_id = request.match_info["id"]
    await sharing.invite(node, user, case_id, await read_json(request))
    view = await cases.case_view(node, user, case_id)
    return web.json_response({"id": case_id, "members": view.to_json()["members"]}, status=202)


@routes.post("/api/cases/{id}/members/{authority}/remove")
@requires(*roles.CONTENT)
async def api_remove(request: web.Request, user: User) -> web.Response:
    """Remove a member from a case we opened, or withdraw an invitation (its
    investigator or a liaison prosecutor)."""
    node: Node = request.app[NODE_KEY]
    case_id, authority = request.match_info["id"], request.match_info["authority"]
    await sharing.remove(node, user, case_id, authority)
    view = await cases.case_view(node, user, case_id)
    return web.json_response({"id": case_id, "members": view.to_json()["members"]}, status=202)


@routes.post("/api/cases/{id}/leave")
@requires(Role.LIAISON)
async def api_leave(request: web.Request, user: User) -> web.Response:
    """Leave a case another authority opened (a liaison prosecutor)."""
    case_id = request.match_info["id"]
    await sharing.leave(request.app[NODE_KEY], user, case_id)
    return web.json_response({"id": case_id, "state": "left"}, status=202)


@routes.post("/api/cases/{id}/accept")
@requires(Role.LIAISON)
async def api_accept(request: web.Request, user: User) -> web.Response:
    """Accept an invitation this node holds (a liaison prosecutor), with our reference."""
    return await _answer(request, user, accept=True)


@routes.post("/api/cases/{id}/decline")
@requires(Role.LIAISON)
async def api_decline(request: web.Request, user: User) -> web.Response:
    """Decline an invitation this node holds (a liaison prosecutor)."""
    return await _answer(request, user, accept=False)


async def _answer(request: web.Request, user: User, *, accept: bool) -> web.Response:
    node: Node = request.app[NODE_KEY]
    case_id = request.match_info["id"]
    body = await read_json(request) if request.can_read_body else {}
    await sharing.answer(node, user, case_id, body, accept=accept)
    state = "member" if accept else "declined"
    return web.json_response({"id": case_id, "state": state}, status=202)
