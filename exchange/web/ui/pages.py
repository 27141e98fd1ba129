"""Pages for investigators and liaison prosecutors: directory, compose, requests.

Handlers parse the form, call the same functions as the JSON API
(``exchange.web.api.requests``, ``Node``), and render. Every POST answers with a
redirect (post/redirect/get), so a reload never sends twice.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import aiohttp
from aiohttp import web

from ...core.canonical import format_time
from ...core.content import REQUEST_KINDS, URGENCIES
from ...core.directory import KINDS, Authority
from ...core.errors import ExchangeError, InvalidRequest, Malformed, TooLarge
from ...core.lifecycle import Status
from ...core.roles import START_PAGE, Role
from ...service import cases, drafts, evidence, follow_ups, forms, requests
from ...service.forms import RequestForm
from ...service.node import Node
from ...service.sealing import Outcome
from ...service.sessions import User
from ..api.evidence import receive_upload
from ..appkeys import NODE_KEY
from ..auth import current_user
from ..multipart import multipart_step
from .render import CSRF_MESSAGE, csrf_ok, error_page, language_of, page, pager, render
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
    user = await current_user(request)
    if user is None:
        raise web.HTTPSeeOther("/login")
    raise web.HTTPSeeOther(START_PAGE[user.role])


@routes.get("/directory")
@page(Role.INVESTIGATOR, Role.LIAISON, Role.ADMIN)
async def directory_page(request: web.Request, user: User) -> web.StreamResponse:
    node: Node = request.app[NODE_KEY]
    q = request.query
    found = node.directory.held_index().search(
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
        "also_to": form.get("also_to", "").split(),  # several recipients (issue 16)
    }


EMPTY_FORM = {
    "to": "",
    "kind": "information_request",
    "urgency": "urgent",
    "language": "en",
    "subject": "",
    "body": "",
    "deadline": "",
    "case_id": "",
    "reference": "",
    "handling": "H2",
    "handling_text": "",
    "evaluation_source": "",
    "evaluation_information": "",
    "also_to": "",  # the other recipients ticked, one id a line
}
# Checkboxes post nothing when unticked, so they are not in EMPTY_FORM (the base of what
# is read); a new form shows both ticked: the strict default (docs/THREAT_MODEL.md).
CHECKBOXES = ("use_limitation", "confidential")


async def _open_cases(node: Node, user: User) -> list[Any]:
    """The user's open cases a new request may join (the newest page of them)."""
    wanted = cases.case_filter(node, status="open")
    return (await cases.list_cases(node, user, wanted, cursor=None)).rows


@routes.get("/compose")
@page(Role.INVESTIGATOR)
async def compose_page(request: web.Request, user: User) -> web.StreamResponse:
    node: Node = request.app[NODE_KEY]
    form = {
        **EMPTY_FORM,
        **dict.fromkeys(CHECKBOXES, "yes"),
        "to": request.query.get("to", ""),
        "case_id": request.query.get("case", ""),
    }
    draft_id = request.query.get("draft", "")
    uploaded: list[evidence.Upload] = []
    if draft_id:
        saved = await drafts.read_own(node, actor=user.username, request_id=draft_id)
        form.update({k: str(v or "") for k, v in saved.to_json().items() if k in EMPTY_FORM})
        form.update(_condition_fields(saved))
        form["deadline"] = _deadline_field(saved.deadline)
        form["draft_id"] = draft_id
        if saved.attachments:
            uploaded = await evidence.unsent(node, list(saved.attachments), owner=user.username)
    context = _compose_context(node, form)
    context["uploaded"] = uploaded
    context["open_cases"] = await _open_cases(node, user)
    return render(request, "compose.html", form=form, error="", warning="", **context)


@routes.post("/compose")
@page(Role.INVESTIGATOR, multipart=True)
async def compose_send(request: web.Request, user: User) -> web.StreamResponse:
    node: Node = request.app[NODE_KEY]
    if not request.content_type.startswith("multipart/"):
        raise Malformed("send the form as multipart/form-data")
    form, uploads = await _read_form(request, node, user, TEXT_FIELDS)
    if form is None:
        return error_page(request, 403, title_key="forbidden_title", message=CSRF_MESSAGE)
    context = _compose_context(node, form)
    context["uploaded"] = uploads
    context["open_cases"] = await _open_cases(node, user)
    recipient = node.directory.require().get(form["to"])
    confirmed = form.get("confirm_language") == "yes"
    if recipient is not None and not _accepts(recipient, form["language"]) and not confirmed:
        warning = _t_warning(recipient, form["language"], language_of(request))
        return render(request, "compose.html", form=form, error="", warning=warning, **context)
    as_draft = form.get("action") == "draft"
    draft_id = form.get("draft_id", "")
    try:
        fields = {k: form[k] for k in forms.TEXT_FIELDS}
        attachments = tuple(u.id for u in uploads)
        wanted = RequestForm.of(
            {
                **fields,
                "deadline": _deadline(form["deadline"]),
                "attachments": list(attachments),
                **_conditions(form, reference=True),
                **({"case_id": form["case_id"]} if form.get("case_id") else {}),
            }
        )
        also = [a for a in dict.fromkeys(form["also_to"].split()) if a != wanted.to]
        if also and (as_draft or draft_id):
            raise InvalidRequest(translator(language_of(request))[2]("one_recipient_drafts"))
        if also:  # one request per recipient, then their table on the case page
            several = await requests.create_for_several(
                node, actor=user.username, form=wanted, recipients=(wanted.to, *also)
            )
            sent = f"/cases/{quote(several.case_id)}?sent={quote(several.group_id)}"
            raise web.HTTPSeeOther(sent)
        if draft_id:  # editing a draft: keep it, then send it if asked
            await drafts.update(node, actor=user.username, request_id=draft_id, form=wanted)
            created = Outcome(draft_id, "draft")
            if not as_draft:
                await drafts.send(node, actor=user.username, request_id=draft_id)
        else:
            save = drafts.save if as_draft else requests.create
            created = await save(node, actor=user.username, form=wanted)
    except ExchangeError as exc:
        return render(
            request, "compose.html", status=400, form=form, error=exc.message, warning="", **context
        )
    raise web.HTTPSeeOther(f"/requests/{quote(created.id)}?done=1")


TEXT_FIELDS = (*EMPTY_FORM, *CHECKBOXES, "confirm_language", "csrf_token", "action", "draft_id")


def _conditions(form: dict[str, str], *, reference: bool) -> dict[str, object]:
    """The form's conditions of use as the API takes them (core/handling.py checks them):
    handling always, reference and evaluation when filled in."""
    handling: dict[str, object] = {"code": form.get("handling", "")}
    handling |= {name: form.get(name) == "yes" for name in CHECKBOXES}
    if form.get("handling") == "H3":
        handling["text"] = form.get("handling_text", "")
    found: dict[str, object] = {"handling": handling}
    if reference and form.get("reference"):
        found["reference"] = form["reference"]
    source, information = form.get("evaluation_source"), form.get("evaluation_information")
    if source or information:
        grade = int(information) if information and information.isdigit() else information
        found["evaluation"] = {"source": source, "information": grade}
    return found


def _condition_fields(saved: RequestForm) -> dict[str, str]:
    """A draft's conditions back as the compose form's fields."""
    h, e = saved.handling, saved.evaluation
    return {
        "reference": saved.reference or "",
        "handling": h.code,
        "handling_text": h.text or "",
        "use_limitation": "yes" if h.use_limitation else "",
        "confidential": "yes" if h.confidential else "",
        "evaluation_source": e.source if e else "",
        "evaluation_information": str(e.information) if e else "",
    }


async def _read_form(
    request: web.Request, node: Node, user: User, text_fields: tuple[str, ...]
) -> tuple[dict[str, str] | None, list[evidence.Upload]]:
    """Stream a multipart form: text fields first (the CSRF token leads), then the
    files, each encrypted as it arrives. Files uploaded by an earlier try come back as
    ids. None when the CSRF token is missing or wrong (nothing was read beyond it)."""
    reader = await multipart_step(request.multipart())
    form = dict(EMPTY_FORM)
    uploads: list[evidence.Upload] = []
    earlier: list[str] = []
    limit = node.config.limits.max_api_body_bytes
    checked = False
    while (part := await multipart_step(reader.next())) is not None:
        if not isinstance(part, aiohttp.BodyPartReader):
            raise Malformed("nested multipart forms are not accepted")
        if not checked:
            if part.name != "csrf_token" or not csrf_ok(user, await _text(part, 200)):
                return None, []
            checked = True
            continue
        if part.name == "attachment" and part.filename:
            uploads.append(await receive_upload(request, part, user))
        elif part.name == "uploaded":
            earlier.append(await _text(part, 64))
        elif part.name == "also_to":  # one checkbox per other recipient
            form["also_to"] += "\n" + await _text(part, 200)
        elif part.name in text_fields:
            form[str(part.name)] = (await _text(part, limit)).strip()
        else:
            await multipart_step(part.release())
    if earlier:
        uploads = await evidence.unsent(node, earlier, owner=user.username) + uploads
    return form, uploads


async def _text(part: aiohttp.BodyPartReader, limit: int) -> str:
    # Chunks of aiohttp's default size: a smaller read_chunk than the boundary's length
    # fails an assertion in aiohttp, and a boundary may be 70 characters long.
    chunks: list[bytes] = []
    size = 0
    while chunk := await multipart_step(part.read_chunk()):
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"a form field is longer than {limit} bytes")
        chunks.append(chunk)
    try:
        return b"".join(chunks).decode("utf-8", errors="strict")
    except UnicodeDecodeError:
        raise Malformed("a form field is not UTF-8 text") from None


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
@page(Role.INVESTIGATOR, Role.LIAISON)
async def requests_page(request: web.Request, user: User) -> web.StreamResponse:
    node: Node = request.app[NODE_KEY]
    q = request.query
    direction = q.get("direction", "")
    peer, country = q.get("peer", ""), q.get("country", "").upper()
    status, urgency, overdue = q.get("status", ""), q.get("urgency", ""), q.get("overdue") == "1"
    kind = q.get("kind", "")
    filters = {"direction": direction, "peer": peer, "country": country, "status": status,
               "urgency": urgency, "kind": kind, "overdue": overdue}  # fmt: skip
    cursor = q.get("cursor") or None
    wanted = requests.board_filter(
        node,
        direction=direction if direction in ("in", "out") else None,
        peer=peer,
        country=country,
        status=status,
        urgency=urgency,
        overdue=overdue,
        kind=kind,
    )
    listed = await requests.visible(node, user, wanted, cursor=cursor)
    board = user.role is Role.LIAISON
    return render(
        request,
        "requests.html",
        rows=listed.rows,
        board=board,
        filters=filters,
        statuses=STATUSES,
        urgencies=URGENCIES,
        kinds=REQUEST_KINDS,
        title_key="board_title" if board else "requests_title",
        pager=pager("/requests", filters, cursor, listed.next),
    )


@routes.get("/inbox")
@page(Role.LIAISON)
async def inbox_page(request: web.Request, user: User) -> web.StreamResponse:
    cursor = request.query.get("cursor") or None
    listed = await requests.inbox(request.app[NODE_KEY], cursor=cursor)
    return render(
        request,
        "requests.html",
        rows=listed.rows,
        board=False,
        filters={},
        statuses=STATUSES,
        urgencies=URGENCIES,
        title_key="inbox_title",
        pager=pager("/inbox", {}, cursor, listed.next),
    )


@routes.get("/requests/{id}")
@page(Role.INVESTIGATOR, Role.LIAISON)
async def request_page(request: web.Request, user: User) -> web.StreamResponse:
    node: Node = request.app[NODE_KEY]
    view = await requests.open_request(node, user, request.match_info["id"])
    directory = node.directory.current
    peer = directory.get(view.row.counterpart) if directory else None
    return render(
        request,
        "request.html",
        row=view.row,
        draft=view.draft,
        messages=view.messages,
        timeline=view.timeline,
        done=request.query.get("done") == "1",
        peer=peer,
        peer_time=local_time(peer, node.clock.now()) if peer else "",
        actions=follow_ups.available(view.row, user),
        older_forms=follow_ups.OLDER_FORMS,
        open_questions=follow_ups.open_consent_requests(view.messages, node.me),
        authorities=[a.authority_id for a in directory.authorities] if directory else [],
        progress=await evidence.progress(  # of the files we send: bytes confirmed, of all
            node, [m.msg_id for m in view.messages if m.sender == node.me]
        ),
    )


ANSWER_CONDITIONS = ("handling", "handling_text", *CHECKBOXES)
FOLLOW_UPS = {
    "acknowledge": ("acknowledgement", ("reference",)),
    "answer": (
        "response",
        ("body", *ANSWER_CONDITIONS, "evaluation_source", "evaluation_information"),
    ),
    "reject": ("rejection", ("reason",)),
}


@routes.post("/requests/{id}/{action:acknowledge|answer|reject}")
@page(Role.LIAISON, multipart=True)
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
            fields["attachments"] = [u.id for u in uploads]
    else:
        posted = await request.post()
        fields = {name: str(posted.get(name, "")).strip() for name in names}
    if msg_type == "acknowledgement" and not fields.get("reference"):
        fields.pop("reference", None)  # no reference given: none sent
    if msg_type == "response":
        answer = {name: str(fields.pop(name, "")) for name in FOLLOW_UPS["answer"][1][1:]}
        fields |= _conditions(answer, reference=False)
    await follow_ups.follow_up(node, user, request_id, msg_type, fields)
    raise web.HTTPSeeOther(f"/requests/{quote(request_id)}?done=1")


@routes.post("/requests/{id}/send")
@page(Role.INVESTIGATOR)
async def send_action(request: web.Request, user: User) -> web.StreamResponse:
    request_id = request.match_info["id"]
    await drafts.send(request.app[NODE_KEY], actor=user.username, request_id=request_id)
    raise web.HTTPSeeOther(f"/requests/{quote(request_id)}?done=1")


@routes.post("/requests/{id}/discard")
@page(Role.INVESTIGATOR)
async def discard_action(request: web.Request, user: User) -> web.StreamResponse:
    request_id = request.match_info["id"]
    await drafts.discard(request.app[NODE_KEY], actor=user.username, request_id=request_id)
    raise web.HTTPSeeOther("/requests?done=1")


@routes.post("/requests/{id}/close")
@page(Role.INVESTIGATOR, Role.LIAISON)
async def close_action(request: web.Request, user: User) -> web.StreamResponse:
    request_id = request.match_info["id"]
    await requests.close(request.app[NODE_KEY], user, request_id)
    raise web.HTTPSeeOther(f"/requests/{quote(request_id)}?done=1")
