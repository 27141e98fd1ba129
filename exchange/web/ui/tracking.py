"""Deadlines, alerts and cooperation statistics pages (metadata only)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from ...core import roles
from ...core.content import URGENCIES
from ...core.stats import as_row
from ...service import deadlines
from ...service.sessions import User
from ..api import stats as stats_api
from ..appkeys import NODE_KEY
from .render import page, pager, render

routes = web.RouteTableDef()


@routes.get("/deadlines")
@page(*roles.DEADLINES)
async def deadlines_page(request: web.Request, user: User) -> web.StreamResponse:
    q = request.query
    filters = {k: q.get(k, "") for k in ("state", "urgency", "peer")}
    cursor = q.get("cursor") or None
    listed = await deadlines.deadlines(
        request.app[NODE_KEY],
        user,
        state=filters["state"],
        urgency=filters["urgency"],
        peer=filters["peer"],
        cursor=cursor,
    )
    return render(
        request,
        "deadlines.html",
        rows=listed.rows,
        filters=filters,
        states=deadlines.STATES,
        urgencies=URGENCIES,
        pager=pager("/deadlines", filters, cursor, listed.next),
    )


@routes.get("/alerts")
@page(*roles.DEADLINES)
async def alerts_page(request: web.Request, user: User) -> web.StreamResponse:
    cursor = request.query.get("cursor") or None
    node = request.app[NODE_KEY]
    listed = await deadlines.alerts(node, user, cursor=cursor)
    return render(
        request,
        "alerts.html",
        alerts=listed.rows,
        directory=deadlines.directory_warning(node),
        pager=pager("/alerts", {}, cursor, listed.next),
    )


def _hours(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


@routes.get("/stats")
@page(*roles.STATISTICS)
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
