"""Deadlines, alerts and cooperation statistics pages (metadata only)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from ...core.content import URGENCIES
from ...core.deadlines import DeadlineState
from ...core.errors import Malformed
from ...core.stats import as_row
from ...service.node import Node
from ...store import deadlines as deadline_store
from ...workers.deadlines import policy_of
from ..api import stats as stats_api
from ..auth import NODE_KEY, User
from .render import page, render

routes = web.RouteTableDef()
STATES = tuple(s.value for s in DeadlineState)


def _own(user: User) -> str | None:
    return user.username if user.role == "investigator" else None


@routes.get("/deadlines")
@page("investigator", "liaison", "admin")
async def deadlines_page(request: web.Request, user: User) -> web.StreamResponse:
    node: Node = request.app[NODE_KEY]
    q = request.query
    filters = {k: q.get(k, "") for k in ("state", "urgency", "peer")}
    if filters["state"] and filters["state"] not in STATES:
        raise Malformed("unknown deadline state")
    if filters["urgency"] and filters["urgency"] not in URGENCIES:
        raise Malformed("unknown urgency")
    now = node.clock.now()
    rows = await node.db.run(
        lambda c: deadline_store.list_deadlines(
            c,
            policy=policy_of(node.config.escalation),
            now=now,
            state=filters["state"] or None,
            urgency=filters["urgency"] or None,
            peer=filters["peer"] or None,
            created_by=_own(user),
        )
    )
    return render(
        request, "deadlines.html", rows=rows, filters=filters, states=STATES, urgencies=URGENCIES
    )


@routes.get("/alerts")
@page("investigator", "liaison", "admin")
async def alerts_page(request: web.Request, user: User) -> web.StreamResponse:
    node: Node = request.app[NODE_KEY]
    alerts = await node.db.run(lambda c: deadline_store.list_alerts(c, created_by=_own(user)))
    return render(request, "alerts.html", alerts=alerts)


def _hours(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


@routes.get("/stats")
@page("liaison", "admin")
async def stats_page(request: web.Request, user: User) -> web.StreamResponse:
    period, rows = await stats_api.compute(request)
    query: dict[str, Any] = {"from": period["from"], "to": period["to"], "by": period["by"]}
    return render(
        request,
        "stats.html",
        period=period,
        rows=[as_row(r) for r in rows],
        query=urlencode(query),
        hours=_hours,
    )
