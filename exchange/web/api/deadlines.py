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

routes = web.RouteTableDef()


@routes.get("/api/deadlines")
@requires(*roles.DEADLINES)
async def api_deadlines(request: web.Request, user: User) -> web.Response:
    """Tracked requests sorted by time left; filters: state, urgency, peer."""
    node = request.app[NODE_KEY]
    q = request.query
    rows = await deadlines.deadlines(
        node, user, state=q.get("state"), urgency=q.get("urgency"), peer=q.get("peer")
    )
    shown = [r.to_json() for r in rows]
    return web.json_response({"now": node.clock.now().isoformat(), "deadlines": shown})


@routes.get("/api/alerts")
@requires(*roles.DEADLINES)
async def api_alerts(request: web.Request, user: User) -> web.Response:
    """Escalations (due soon, overdue, unacknowledged); ``?all=1`` includes settled ones."""
    everything = request.query.get("all") in ("1", "true")
    rows = await deadlines.alerts(request.app[NODE_KEY], user, open_only=not everything)
    return web.json_response({"alerts": [r.to_json() for r in rows]})
