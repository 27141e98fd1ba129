"""Pages for investigators and liaison prosecutors: directory, compose, requests.

Handlers parse the form, call the same functions as the JSON API
(``exchange.node.api``, ``Node``), and render. Every POST answers with a
redirect (post/redirect/get), so a reload never sends twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import aiohttp
from aiohttp import web

from ..core.canonical import canonical_json, format_time, sha256_hex
from ..core.content import REQUEST_KINDS, URGENCIES
from ..core.directory import KINDS, Authority
from ..core.errors import ExchangeError, Malformed, TooLarge
from ..core.lifecycle import Status
from ..node import api
from ..node.auth import NODE_KEY, User, current_user
from ..node.evidence import receive_upload
from ..node.service import Node
from ..store import evidence as evidence_store
from ..store.request_lists import RequestFilter
from .render import CSRF_MESSAGE, csrf_ok, error_page, language_of, page, render
from .strings import translator

routes = web.RouteTableDef()


def local_time(authority: Authority, now: datetime) -> str:
    try:
        zone = ZoneInfo(authority.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        return "?"
    return now.astimezone(zone).strftime("%a %H:%M (%Z)")


@routes.get("/")
async def home(request: web.Request) -> web.StreamResponse:
    user = await current_user(request.app[NODE_KEY], request)
    if user is None:
        raise web.HTTPSeeOther("/login")
    start = {"investigator": "/requests", "liaison": "/inbox", "auditor": "/audit"}
    raise web.HTTPSeeOther(start.get(user.role, "/admin"))


@routes.get("/directory")
@page("investigator", "liaison", "admin")
async def directory_page(request: web.Request, user: User) -> web.StreamResponse:
    node: Node = request.app[NODE_KEY]
    q = request.query
    found = node.directory.require_index().search(
        q.get("q", ""),
        country=(q.get("country") or "").upper() or None,
        kind=q.get("kind") or None,
        language=q.get("language") or None,
        limit=100,
    )
    now = node.clock.now()
    return render(
        request,
        "directory.html",
        authorities=found,
        local_times={a.authority_id: local_time(a, now) for a in found},
        kinds=KINDS,
        q=q.get("q", ""),
        country=q.get("country", ""),
        kind=q.get("kind", ""),
        language=q.get("language", ""),
    )


def _compose_context(node: Node, form: dict[str, str]) -> dict[str, Any]:
    directory = node.directory.require()
    authorities = [a for a in directory.authorities if a.authority_id != node.me]
    recipient = directory.get(form["to"]) if form.get("to") else None
    if recipient is None and authorities:
        recipient = authorities[0]
    return {
        "authorities": authorities,
        "recipient": recipient,
        "recipient_time": local_time(recipient, node.clock.now()) if recipient else "",
        "request_kinds": REQUEST_KINDS,
        "urgencies": URGENCIES,
        "default_hours": {
            u: int(node.config.deadlines[u].total_seconds() // 3600) for u in URGENCIES
        },
        "attachments_enabled": True,
        "max_attachment_mb": node.config.limits.max_attachment_bytes // (1024 * 1024),
        "uploaded": [],
    }


EMPTY_FORM = {
    "to": "",
    "kind": "information_request",
    "urgency": "urgent",
    "language": "en",
    "subject": "",
    "body": "",
    "deadline": "",
}


@routes.get("/compose")
@page("investigator")
async def compose_page(request: web.Request, user: User) -> web.StreamResponse:
    node: Node = request.app[NODE_KEY]
    form = {**EMPTY_FORM, "to": request.query.get("to", "")}
    draft_id = request.query.get("draft", "")
    uploaded: list[dict[str, Any]] = []
    if draft_id:
        saved = await node.read_own_draft(actor=user.username, request_id=draft_id)
        form.update({k: str(saved.get(k) or "") for k in EMPTY_FORM})
        form["deadline"] = _deadline_field(saved.get("deadline"))
        form["draft_id"] = draft_id
        ids = [str(i) for i in saved.get("attachments") or []]
        if ids:
            owner = user.username
            uploaded = await node.db.run(lambda c: evidence_store.unsent(c, ids, owner=owner))
    context = _compose_context(node, form)
    context["uploaded"] = uploaded
    return render(request, "compose.html", form=form, error="", warning="", **context)


@routes.post("/compose")
@page("investigator", multipart=True)
async def compose_send(request: web.Request, user: User) -> web.StreamResponse:
    node: Node = request.app[NODE_KEY]
    if not request.content_type.startswith("multipart/"):
        raise Malformed("send the form as multipart/form-data")
    form, uploads = await _read_form(request, node, user, TEXT_FIELDS)
    if form is None:
        return error_page(request, 403, title_key="forbidden_title", message=CSRF_MESSAGE)
    context = _compose_context(node, form)
    context["uploaded"] = uploads
    recipient = node.directory.require().get(form["to"])
    confirmed = form.get("confirm_language") == "yes"
    if recipient is not None and not _accepts(recipient, form["language"]) and not confirmed:
        warning = _t_warning(recipient, form["language"], language_of(request))
        return render(request, "compose.html", form=form, error="", warning=warning, **context)
    fields = {k: form[k] for k in ("to", "kind", "urgency", "subject", "body", "language")}
    as_draft = form.get("action") == "draft"
    draft_id = form.get("draft_id", "")
    try:
        deadline = _deadline(form["deadline"])
        attachments = [u["id"] for u in uploads]
        if draft_id:  # editing a draft: keep it, then send it if asked
            await node.update_draft(
                actor=user.username,
                request_id=draft_id,
                deadline=deadline,
                attachments=attachments,
                **fields,
            )
            created = {"id": draft_id}
            if not as_draft:
                await node.send_draft(actor=user.username, request_id=draft_id)
        else:
            save = node.save_draft if as_draft else node.create_request
            created = await save(
                actor=user.username, deadline=deadline, attachments=attachments, **fields
            )
    except ExchangeError as exc:
        return render(
            request, "compose.html", status=400, form=form, error=exc.message, warning="", **context
        )
    raise web.HTTPSeeOther(f"/requests/{quote(created['id'])}?done=1")


TEXT_FIELDS = (*EMPTY_FORM, "confirm_language", "csrf_token", "action", "draft_id")


async def _read_form(
    request: web.Request, node: Node, user: User, text_fields: tuple[str, ...]
) -> tuple[dict[str, str] | None, list[dict[str, Any]]]:
    """Stream a multipart form: text fields first (the CSRF token leads), then the
    files, each encrypted as it arrives. Files uploaded by an earlier try come back as
    ids. None when the CSRF token is missing or wrong (nothing was read beyond it)."""
    reader = await request.multipart()
    form = dict(EMPTY_FORM)
    uploads: list[dict[str, Any]] = []
    earlier: list[str] = []
    limit = node.config.limits.max_api_body_bytes
    checked = False
    while (part := await reader.next()) is not None:
        if not isinstance(part, aiohttp.BodyPartReader):
            raise Malformed("nested multipart forms are not accepted")
        if not checked:
            if part.name != "csrf_token" or not csrf_ok(user, await _text(part, 200)):
                return None, []
            checked = True
            continue
        if part.name == "attachment" and part.filename:
            uploads.append(await receive_upload(node, part, user.username))
        elif part.name == "uploaded":
            earlier.append(await _text(part, 64))
        elif part.name in text_fields:
            form[str(part.name)] = (await _text(part, limit)).strip()
        else:
            await part.release()
    if earlier:
        own = await node.db.run(lambda c: evidence_store.unsent(c, earlier, owner=user.username))
        uploads = own + uploads
    return form, uploads


async def _text(part: aiohttp.BodyPartReader, limit: int) -> str:
    data = await part.read_chunk(limit + 1)
    if len(data) > limit or await part.read_chunk(1):
        raise TooLarge(f"a form field is longer than {limit} bytes")
    return data.decode("utf-8", errors="strict")


def _accepts(recipient: Authority, language: str) -> bool:
    base = language.lower().split("-")[0]
    return any(a.lower().split("-")[0] == base for a in recipient.languages)


def _t_warning(recipient: Authority, language: str, ui_language: str) -> str:
    _, _, t = translator(ui_language)
    return t(
        "language_warning",
        authority=recipient.authority_id,
        language=language,
        accepted=", ".join(recipient.languages),
    )


def _deadline_field(value: object) -> str:
    """The API's spelling of a deadline back as a ``datetime-local`` value (UTC)."""
    if not isinstance(value, str) or not value:
        return ""
    return value[:16]  # 2026-01-01T08:30:00.000000Z -> 2026-01-01T08:30


def _deadline(value: str) -> str | None:
    """A ``datetime-local`` value taken as UTC, in the API's spelling."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value).replace(tzinfo=UTC)
    except ValueError as exc:
        raise Malformed("the deadline must be a date and time") from exc
    return format_time(moment)


STATUSES = tuple(s.value for s in Status if s is not Status.DRAFT)


@routes.get("/requests")
@page("investigator", "liaison")
async def requests_page(request: web.Request, user: User) -> web.StreamResponse:
    node: Node = request.app[NODE_KEY]
    q = request.query
    filters = {
        "direction": q.get("direction", ""),
        "peer": q.get("peer", ""),
        "country": q.get("country", "").upper(),
        "status": q.get("status", ""),
        "urgency": q.get("urgency", ""),
        "overdue": q.get("overdue", "") == "1",
    }
    cursor = q.get("cursor") or None
    listed = await api.visible_requests(
        node, user, _wanted(node, filters), cursor=cursor, limit=api.PAGE_SIZE
    )
    board = user.role == "liaison"
    return render(
        request,
        "requests.html",
        rows=listed["requests"],
        board=board,
        filters=filters,
        statuses=STATUSES,
        urgencies=URGENCIES,
        title_key="board_title" if board else "requests_title",
        pager=_pager("/requests", filters, cursor, listed["next"]),
    )


def _wanted(node: Node, filters: dict[str, Any]) -> RequestFilter:
    """The board's filters, all applied in the query. A country is the authorities
    the directory places in it (none without a directory); overdue is the live state
    now, as the list shows it."""
    peers = None
    if filters["country"]:
        directory = node.directory.current
        listed = directory.authorities if directory else ()
        peers = tuple(a.authority_id for a in listed if a.country == filters["country"])
    return RequestFilter(
        direction=filters["direction"] if filters["direction"] in ("in", "out") else None,
        peer=filters["peer"] or None,
        peers=peers,
        status=filters["status"] or None,
        urgency=filters["urgency"] or None,
        overdue_at=node.clock.now() if filters["overdue"] else None,
    )


@dataclass(frozen=True)
class Pager:
    """Links to the next page (same filters, the list's cursor) and, past the first
    page, back to the first; empty when there is none."""

    next_url: str
    first_url: str


def _pager(path: str, filters: dict[str, Any], cursor: str | None, following: str | None) -> Pager:
    kept = {name: "1" if value is True else value for name, value in filters.items() if value}
    return Pager(
        next_url=f"{path}?{urlencode({**kept, 'cursor': following})}" if following else "",
        first_url=f"{path}?{urlencode(kept)}".rstrip("?") if cursor else "",
    )


@routes.get("/inbox")
@page("liaison")
async def inbox_page(request: web.Request, user: User) -> web.StreamResponse:
    cursor = request.query.get("cursor") or None
    listed = await api.inbox(request.app[NODE_KEY], cursor=cursor, limit=api.PAGE_SIZE)
    return render(
        request,
        "requests.html",
        rows=listed["requests"],
        board=False,
        filters={},
        statuses=STATUSES,
        urgencies=URGENCIES,
        title_key="inbox_title",
        pager=_pager("/inbox", {}, cursor, listed["next"]),
    )


@routes.get("/requests/{id}")
@page("investigator", "liaison")
async def request_page(request: web.Request, user: User) -> web.StreamResponse:
    node: Node = request.app[NODE_KEY]
    view = await api.open_request(node, user, request.match_info["id"])
    for message in view["messages"]:
        receipt = message.get("receipt")
        message["receipt_sha256"] = sha256_hex(_receipt_bytes(receipt)) if receipt else ""
    directory = node.directory.current
    peer = directory.get(view["counterpart"]) if directory else None
    return render(
        request,
        "request.html",
        row=view,
        messages=view["messages"],
        timeline=view["timeline"],
        done=request.query.get("done") == "1",
        peer=peer,
        peer_time=local_time(peer, node.clock.now()) if peer else "",
    )


def _receipt_bytes(receipt: dict[str, Any]) -> bytes:
    return canonical_json(receipt)


FOLLOW_UPS = {
    "acknowledge": ("acknowledgement", ()),
    "answer": ("response", ("body",)),
    "reject": ("rejection", ("reason",)),
}


@routes.post("/requests/{id}/{action:acknowledge|answer|reject}")
@page("liaison", multipart=True)
async def follow_up_action(request: web.Request, user: User) -> web.StreamResponse:
    node: Node = request.app[NODE_KEY]
    request_id = request.match_info["id"]
    msg_type, names = FOLLOW_UPS[request.match_info["action"]]
    fields: dict[str, Any]
    if request.content_type.startswith("multipart/"):  # an answer with evidence files
        form, uploads = await _read_form(request, node, user, names)
        if form is None:
            return error_page(request, 403, title_key="forbidden_title", message=CSRF_MESSAGE)
        fields = {name: form.get(name, "") for name in names}
        if uploads:
            fields["attachments"] = [u["id"] for u in uploads]
    else:
        posted = await request.post()
        fields = {name: str(posted.get(name, "")).strip() for name in names}
    await api.follow_up(node, user, request_id, msg_type, fields)
    raise web.HTTPSeeOther(f"/requests/{quote(request_id)}?done=1")


@routes.post("/requests/{id}/send")
@page("investigator")
async def send_action(request: web.Request, user: User) -> web.StreamResponse:
    request_id = request.match_info["id"]
    await request.app[NODE_KEY].send_draft(actor=user.username, request_id=request_id)
    raise web.HTTPSeeOther(f"/requests/{quote(request_id)}?done=1")


@routes.post("/requests/{id}/discard")
@page("investigator")
async def discard_action(request: web.Request, user: User) -> web.StreamResponse:
    request_id = request.match_info["id"]
    await request.app[NODE_KEY].discard_draft(actor=user.username, request_id=request_id)
    raise web.HTTPSeeOther("/requests?done=1")


@routes.post("/requests/{id}/close")
@page("investigator", "liaison")
async def close_action(request: web.Request, user: User) -> web.StreamResponse:
    request_id = request.match_info["id"]
    await api.close_request(request.app[NODE_KEY], user, request_id)
    raise web.HTTPSeeOther(f"/requests/{quote(request_id)}?done=1")
