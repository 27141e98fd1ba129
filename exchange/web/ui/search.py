"""The search page: requests holding every word of ``q``, among those the user may see
in the requests list (``service/search.py``), a page at a time."""

from __future__ import annotations

from aiohttp import web

from ...core import roles
from ...core.errors import IndexBuilding
from ...service import search
from ...service.node import Node
from ...service.requests import RequestPage
from ...service.sessions import User
from ..appkeys import NODE_KEY
from .render import page, pager, render

routes = web.RouteTableDef()


@routes.get("/search")
@page(*roles.CONTENT)
async def search_page(request: web.Request, user: User) -> web.StreamResponse:
    node: Node = request.app[NODE_KEY]
    q = request.query.get("q", "").strip()
    cursor = request.query.get("cursor") or None
    found: RequestPage | None = None
    building = False
    if q:
        try:
            found = await search.search_requests(node, user, q, cursor=cursor)
        except IndexBuilding:
            building = True
    return render(
        request,
        "search.html",
        status=503 if building else 200,
        q=q,
        building=building,
        rows=found.rows if found else [],
        searched=found is not None,
        pager=pager("/search", {"q": q}, cursor, found.next if found else None),
    )
