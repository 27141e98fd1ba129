"""Local API for deadlines and escalation alerts (metadata only, never contents).

Investigators see the deadlines and alerts of the requests they created;
liaison prosecutors and admins see all of them.
"""

from __future__ import annotations

from aiohttp import web

from ...core import roles
from ...service import deadlines
from ...service.sessions import User
from ..appkeys import NODE_KEY
from ..auth import requires
from ..params import page_size

routes = web.RouteTableDef()


@routes.get("/api/deadlines")
@requires(*roles.DEADLINES)
async def api_deadlines(request: web.Request, user: User) -> web.Response:
    """A page of tracked requests, open ones first by time left; filters: state,
    urgency, peer; ``next`` goes on."""
    node = request.app[NODE_KEY]
    q = request.query
    page = await deadlines.deadlines(
        node,
        user,
        state=q.get("state"),
        urgency=q.get("urgency"),
        peer=q.get("peer"),
        cursor=q.get("cursor"),
        limit=page_size(q),
    )
    shown = [r.to_json() for r in page.rows]
    now = node.clock.now().isoformat()
    return web.json_response({"now": now, "deadlines": shown, "next": page.next})


@routes.get("/api/alerts")
@requires(*roles.DEADLINES)
async def api_alerts(request: web.Request, user: User) -> web.Response:
    """A page of escalations (due soon, overdue, unacknowledged), newest first;
    ``?all=1`` includes settled ones; ``next`` goes on; ``directory`` is the
    directory's lifetime warning (null while fresh)."""
    q = request.query
    page = await deadlines.alerts(
        request.app[NODE_KEY],
        user,
        open_only=q.get("all") not in ("1", "true"),
        cursor=q.get("cursor"),
        limit=page_size(q),
    )
    rows = [r.to_json() for r in page.rows]
    warning = deadlines.directory_warning(request.app[NODE_KEY])
    return web.json_response({"alerts": rows, "next": page.next, "directory": warning})
