"""The auditor's and the admin's pages: audit log, verification, users, keys, peers."""

from __future__ import annotations

from aiohttp import web

from ...core.canonical import JsonObject
from ...core.errors import Malformed
from ...core.roles import ALL, Role
from ...service import admin, audit, witness
from ...service.sessions import User
from ...workers.witness_views import node_views
from ..appkeys import CLIENT_KEY, NODE_KEY, SESSIONS_KEY
from .render import page, pager, render

routes = web.RouteTableDef()
PAGE = 50
RECEIVED_SHOWN = 10  # on the audit page; the rest a page at a time


@routes.get("/audit")
@page(Role.AUDITOR)
async def audit_page(request: web.Request, user: User) -> web.StreamResponse:
    return await _audit(request, verify=None)


@routes.post("/audit/verify")
@page(Role.AUDITOR)
async def audit_verify(request: web.Request, user: User) -> web.StreamResponse:
    """The same read-only check as ``exchange audit verify``, on this node's database."""
    node = request.app[NODE_KEY]
    views = await node_views(node, request.app[CLIENT_KEY])
    return await _audit(request, verify=await audit.verify_now(node, views))


async def _audit(request: web.Request, verify: JsonObject | None) -> web.Response:
    try:
        wanted = int(request.query.get("start", "-1"))
    except ValueError as exc:
        raise Malformed("start must be an integer") from exc
    alerts_cursor = request.query.get("cursor") or None
    found = await audit.log_page(request.app[NODE_KEY], wanted, PAGE, alerts_cursor=alerts_cursor)
    received = await witness.received_alerts(request.app[NODE_KEY], limit=RECEIVED_SHOWN)
    kept = {"start": request.query.get("start", "")}  # the entries shown stay
    return render(
        request,
        "audit.html",
        verify=verify,
        page=PAGE,
        size=found.size,
        start=found.start,
        end=found.end,
        entries=found.entries,
        checkpoint=found.status.latest,
        cosigned=found.status.cosigned,
        alerts=found.alerts.rows,
        alerts_pager=pager("/audit", kept, alerts_cursor, found.alerts.next),
        received_alerts=received.rows,
        more_received=received.next is not None,
    )


@routes.get("/audit/received-alerts")
@page(Role.AUDITOR)
async def received_alerts_page(request: web.Request, user: User) -> web.StreamResponse:
    """Every alert other witnesses signed and sent us, a page at a time."""
    cursor = request.query.get("cursor") or None
    found = await witness.received_alerts(request.app[NODE_KEY], cursor=cursor)
    return render(
        request,
        "received_alerts.html",
        received_alerts=found.rows,
        pager=pager("/audit/received-alerts", {}, cursor, found.next),
    )


@routes.get("/admin")
@page(Role.ADMIN)
async def admin_page(request: web.Request, user: User) -> web.StreamResponse:
    state = await admin.overview(request.app[NODE_KEY])
    return render(
        request,
        "admin.html",
        done=request.query.get("done") == "1",
        users=state.users,
        peers=state.peers,
        keys=state.keys,
        roles=ALL,
        directory=state.directory,
        equivocations=state.equivocations,
        revocations=state.revocations,
    )


@routes.post("/admin/users")
@page(Role.ADMIN)
async def admin_add_user(request: web.Request, user: User) -> web.StreamResponse:
    form = await request.post()
    await admin.add_user(
        request.app[NODE_KEY],
        user,
        username=str(form.get("username", "")).strip(),
        role=str(form.get("role", "")),
        password=str(form.get("password", "")),
    )
    raise web.HTTPSeeOther("/admin?done=1")


@routes.post("/admin/users/remove")
@page(Role.ADMIN)
async def admin_remove_user(request: web.Request, user: User) -> web.StreamResponse:
    form = await request.post()
    username = str(form.get("username", ""))
    await admin.remove_user(request.app[NODE_KEY], request.app[SESSIONS_KEY], user, username)
    raise web.HTTPSeeOther("/admin?done=1")


@routes.post("/admin/keys/rotate")
@page(Role.ADMIN)
async def admin_rotate(request: web.Request, user: User) -> web.StreamResponse:
    await admin.rotate(request.app[NODE_KEY])
    raise web.HTTPSeeOther("/admin?done=1")
