"""Local API for deadlines and escalation alerts (metadata only, never contents).

Investigators see the deadlines and alerts of the requests they created;
liaison prosecutors and admins see all of them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web

from ...core.deadlines import DeadlineState
from ...core.errors import Malformed
from ...service.node import Node
from ...store import deadlines as store
from ...workers.deadlines import policy_of
from ..auth import NODE_KEY, User, requires

DEADLINE_ROLES = ("investigator", "liaison", "admin")
URGENCIES = ("emergency", "urgent", "standard")
routes = web.RouteTableDef()


def _choice(query: Any, name: str, allowed: tuple[str, ...]) -> str | None:
    value = query.get(name) or None
    if value is not None and value not in allowed:
        raise Malformed(f"{name} must be one of {', '.join(allowed)}")
    return value


def _own(user: User) -> str | None:
    return user.username if user.role == "investigator" else None


@routes.get("/api/deadlines")
@requires(*DEADLINE_ROLES)
async def api_deadlines(request: web.Request, user: User) -> web.Response:
    """Tracked requests sorted by time left; filters: state, urgency, peer."""
    node: Node = request.app[NODE_KEY]
    q = request.query
    state = _choice(q, "state", tuple(s.value for s in DeadlineState))
    urgency = _choice(q, "urgency", URGENCIES)
    peer = q.get("peer") or None
    if peer is not None and len(peer) > 64:
        raise Malformed("peer must be an authority id")
    now = node.clock.now()
    rows = await node.db.run(
        lambda c: store.list_deadlines(
            c,
            policy=policy_of(node.config.escalation),
            now=now,
            state=state,
            urgency=urgency,
            peer=peer,
            created_by=_own(user),
        )
    )
    return web.json_response({"now": now.isoformat(), "deadlines": rows})


@routes.get("/api/alerts")
@requires(*DEADLINE_ROLES)
async def api_alerts(request: web.Request, user: User) -> web.Response:
    """Escalations (due soon, overdue, unacknowledged); ``?all=1`` includes settled ones."""
    node: Node = request.app[NODE_KEY]
    everything = request.query.get("all") in ("1", "true")
    rows = await node.db.run(
        lambda c: store.list_alerts(c, created_by=_own(user), open_only=not everything)
    )
    return web.json_response({"alerts": rows})


def annotate(rows: list[dict[str, Any]], node: Node, now: datetime) -> list[dict[str, Any]]:
    """Add the live ``deadline_state`` to request rows (for lists and pages)."""
    policy = policy_of(node.config.escalation)
    for row in rows:
        row["deadline_state"] = store.state_of(row, policy, now)
    return rows
