"""Case pages: the board of cases, one case with its requests, opening and closing a
case. Handlers parse, call ``service.cases`` (the same use cases as ``/api/cases``),
render; every POST answers with a redirect."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from aiohttp import web

from ...core import roles
from ...core.cases import MAX_STOPS, OFFENCES, ROUTE_ROLES
from ...core.errors import ExchangeError
from ...core.roles import Role
from ...service import cases, search, sharing
from ...service.node import Node
from ...service.sessions import User
from ..appkeys import NODE_KEY
from .render import page, pager, render

routes = web.RouteTableDef()
FORM_STOPS = 5  # route rows the form offers (the API takes up to MAX_STOPS)


@routes.get("/cases")
@page(*roles.CONTENT)
async def cases_page(request: web.Request, user: User) -> web.StreamResponse:
    node: Node = request.app[NODE_KEY]
    q = request.query
    filters: dict[str, Any] = {
        "status": q.get("status", ""),
        "authority": q.get("authority", "").strip(),
        "country": q.get("country", "").strip().upper(),
        "overdue": q.get("overdue") == "1",
        "shared": q.get("shared") == "1",
        "text": q.get("text", "").strip(),
    }
    cursor = q.get("cursor") or None
    wanted = cases.case_filter(
        node,
        status=filters["status"] or None,
        authority=filters["authority"] or None,
        country=filters["country"] or None,
        overdue=filters["overdue"],
        shared=filters["shared"],
    )
    if filters["text"]:  # sealed titles: the in-memory index (service/search.py)
        listed = await search.filter_cases(node, user, filters["text"], wanted, cursor=cursor)
    else:
        listed = await cases.list_cases(node, user, wanted, cursor=cursor)
    return render(
        request,
        "cases.html",
        rows=listed.rows,
        filters=filters,
        pager=pager("/cases", filters, cursor, listed.next),
    )


def _form_context(form: dict[str, Any]) -> dict[str, Any]:
    return {"form": form, "offences": OFFENCES, "route_roles": ROUTE_ROLES, "stops": FORM_STOPS}


EMPTY = {"title": "", "reference": "", "offences": [], "route": []}


@routes.get("/cases/new")
@page(Role.INVESTIGATOR)
async def new_case_page(request: web.Request, user: User) -> web.StreamResponse:
    return render(request, "case_new.html", error="", **_form_context(dict(EMPTY)))


@routes.post("/cases/new")
@page(Role.INVESTIGATOR)
async def open_case_action(request: web.Request, user: User) -> web.StreamResponse:
    posted = await request.post()
    route = []
    for i in range(MAX_STOPS):
        country = str(posted.get(f"country_{i}", "")).strip().upper()
        if country:
            route.append({"country": country, "role": str(posted.get(f"role_{i}", ""))})
    body: dict[str, Any] = {
        "title": str(posted.get("title", "")),
        "reference": str(posted.get("reference", "")) or None,
        "offences": [str(v) for v in posted.getall("offences", [])],
        "route": route,
    }
    try:
        opened = await cases.open_case(request.app[NODE_KEY], user, body)
    except ExchangeError as exc:
        return render(
            request, "case_new.html", status=400, error=exc.message, **_form_context(body)
        )
    raise web.HTTPSeeOther(f"/cases/{quote(opened.id)}")


@routes.get("/cases/{id}")
@page(*roles.CONTENT)
async def case_page(request: web.Request, user: User) -> web.StreamResponse:
    node: Node = request.app[NODE_KEY]
    view = await cases.case_view(node, user, request.match_info["id"])
    directory = node.directory.current
    return render(
        request,
        "case.html",
        case=view.case,
        subject=view.subject,
        rows=view.requests,
        receipts={r.id: cases.receipt_state(r) for r in view.requests},
        traffic=view.traffic,  # the per-recipient table: last message, receipts held
        countries={a.authority_id: a.country for a in directory.authorities} if directory else {},
        sent=request.query.get("sent", ""),  # the group just sent from compose
        members=view.members,
        case_messages=view.case_messages,
        consents=view.consents,
        sharing=await sharing.page_options(node, user, view.case),
        done=request.query.get("done") == "1",
    )


@routes.post("/cases/{id}/members")
@page(*roles.CONTENT)
async def invite_action(request: web.Request, user: User) -> web.StreamResponse:
    """Invite the authority picked from the directory (service/sharing.invite)."""
    case_id = request.match_info["id"]
    posted = await request.post()
    body = {"authority": str(posted.get("authority", ""))}
    await sharing.invite(request.app[NODE_KEY], user, case_id, body)
    raise web.HTTPSeeOther(f"/cases/{quote(case_id)}?done=1")


@routes.post("/cases/{id}/accept")
@page(Role.LIAISON)
async def accept_action(request: web.Request, user: User) -> web.StreamResponse:
    case_id = request.match_info["id"]
    posted = await request.post()
    body = {
        k: str(posted[k]) for k in ("reference", "investigator") if str(posted.get(k, "")).strip()
    }
    await sharing.answer(request.app[NODE_KEY], user, case_id, dict(body), accept=True)
    raise web.HTTPSeeOther(f"/cases/{quote(case_id)}?done=1")


@routes.post("/cases/{id}/decline")
@page(Role.LIAISON)
async def decline_action(request: web.Request, user: User) -> web.StreamResponse:
    case_id = request.match_info["id"]
    await sharing.answer(request.app[NODE_KEY], user, case_id, {}, accept=False)
    raise web.HTTPSeeOther(f"/cases/{quote(case_id)}?done=1")


@routes.post("/cases/{id}/members/{authority}/remove")
@page(*roles.CONTENT)
async def remove_action(request: web.Request, user: User) -> web.StreamResponse:
    """Remove a member, or withdraw an invitation (service/sharing.remove)."""
    case_id = request.match_info["id"]
    await sharing.remove(request.app[NODE_KEY], user, case_id, request.match_info["authority"])
    raise web.HTTPSeeOther(f"/cases/{quote(case_id)}?done=1")


@routes.post("/cases/{id}/leave")
@page(Role.LIAISON)
async def leave_action(request: web.Request, user: User) -> web.StreamResponse:
    case_id = request.match_info["id"]
    await sharing.leave(request.app[NODE_KEY], user, case_id)
    raise web.HTTPSeeOther(f"/cases/{quote(case_id)}?done=1")


@routes.post("/cases/{id}/close")
@page(*roles.CONTENT)
async def close_case_action(request: web.Request, user: User) -> web.StreamResponse:
    case_id = request.match_info["id"]
    await cases.close_case(request.app[NODE_KEY], user, case_id)
    raise web.HTTPSeeOther(f"/cases/{quote(case_id)}")
