"""Requests as users see them: who may see which, lists, one request opened (audited),
follow-ups, closing. Every rule of visibility lives here, once."""

from __future__ import annotations

import dataclasses
import sqlite3
from dataclasses import dataclass

from ..core import ids
from ..core.canonical import JsonObject
from ..core.content import REQUEST_KINDS, attachments_of
from ..core.errors import InvalidRequest, Malformed, NotFound
from ..core.handling import request_conditions
from ..core.lifecycle import Status
from ..core.roles import Role
from ..store import audit as audit_store
from ..store import drafts as draft_store
from ..store import messages as message_store
from ..store import request_lists
from ..store import requests as store
from ..store.db import transaction
from ..store.paging import Page
from ..store.request_lists import RequestFilter
from ..store.rows import MessageView, TimelineEvent
from ..store.rows import RequestRow as RequestRow  # the row web pages render
from . import cases, sealing, sharing
from .deadlines import annotate, live_state
from .forms import RequestForm
from .node import Node
from .paging import PAGE_SIZE, Listed, listed, position
from .sessions import User


async def create(node: Node, *, actor: str, form: RequestForm) -> sealing.Outcome:
    """Check, seal and queue a new request for its recipient (stored with others queued
    at the same moment, in one transaction), filed in the case it names or in a new
    implicit case."""
    now = node.clock.now()
    request_id = ids.request_id()
    case_id, new_case = await cases.filing(node, actor=actor, case_id=form.case_id, now=now)
    shared = await sharing.case_ref_for(node, case_id, form.to) if new_case is None else None
    sealed = await sealing.prepare_request(node, form, actor=actor, now=now, case=shared)
    new = store.NewRequest(
        request_id,
        sealed.message,
        actor,
        now,
        sealed.attachment_ids,
        sealed.plan,
        case_id=case_id,
        new_case=new_case,
    )
    await node.db.run_batched(node.create_batch, new)
    return sealing.queued(node, request_id, sealed, form.urgency, case_id)


@dataclass(frozen=True)
class Several:
    """What the author is told of one request sent to several authorities: the case and
    one request per recipient, each with its own message id (its own envelope)."""

    case_id: str
    group_id: str
    requests: list[tuple[str, sealing.Outcome]]  # (recipient, its request), in order

    def to_json(self) -> dict[str, object]:
        sent = [{"id": o.id, "msg_id": o.msg_id, "to": to, "status": o.status}
                for to, o in self.requests]  # fmt: skip
        return {"case_id": self.case_id, "group_id": self.group_id, "requests": sent}


async def create_for_several(
    node: Node, *, actor: str, form: RequestForm, recipients: tuple[str, ...]
) -> Several:
    """One request per recipient, each sealed for that recipient alone, all filed in
    the same case and stored in ONE transaction: all of them, or none (an unknown
    recipient is refused before anything is sealed). Attachments go to one recipient
    only: an upload leaves with one message (store/evidence.attach)."""
    for to in recipients:
        node.peer(to)
    if form.attachments and len(recipients) > 1:
        raise InvalidRequest("attachments go with a request to one recipient")
    now = node.clock.now()
    case_id, new_case = await cases.filing(node, actor=actor, case_id=form.case_id, now=now)
    group_id, items, sealed_all = ids.request_id(), [], []
    # ids made in one millisecond are not ordered: sorted, they list in the author's order
    request_ids = sorted(ids.request_id() for _ in recipients)
    opened_now = new_case is not None
    for to, request_id in zip(recipients, request_ids, strict=True):
        # in a shared case, each member's request names it (a non-member's does not)
        shared = None if opened_now else await sharing.case_ref_for(node, case_id, to)
        sealed = await sealing.prepare_request(
            node, dataclasses.replace(form, to=to), actor=actor, now=now, case=shared
        )
        new = store.NewRequest(
            request_id, sealed.message, actor, now, sealed.attachment_ids, sealed.plan,
            case_id=case_id, new_case=new_case, group_id=group_id,
        )  # fmt: skip
        items.append(new)
        sealed_all.append(sealed)
        new_case = None  # opened with the first request; the others are filed in it
    await node.db.run(lambda c: store.create_requests(c, items, vault=node.vault, me=node.me))
    done = [
        (to, sealing.queued(node, item.request_id, sealed, form.urgency, case_id))
        for to, item, sealed in zip(recipients, items, sealed_all, strict=True)
    ]
    return Several(case_id, group_id, done)


RequestPage = Listed[RequestRow]


def board_filter(
    node: Node,
    *,
    direction: str | None = None,
    peer: str | None = None,
    country: str | None = None,
    status: str | None = None,
    urgency: str | None = None,
    overdue: bool = False,
    kind: str | None = None,
) -> RequestFilter:
    """A list's filters, all applied in the query. A country is the authorities the
    directory places in it (none without a directory); overdue is the live state now,
    as the list shows it."""
    if direction not in (None, "in", "out"):
        raise Malformed("direction must be 'in' or 'out'")
    if kind and kind not in REQUEST_KINDS:
        raise Malformed(f"kind must be one of {', '.join(REQUEST_KINDS)}")
    peers = None
    if country:
        directory = node.directory.current
        listed = directory.authorities if directory else ()
        peers = tuple(a.authority_id for a in listed if a.country == country)
    return RequestFilter(
        direction=direction,
        peer=peer or None,
        peers=peers,
        status=status or None,
        urgency=urgency or None,
        kind=kind or None,
        overdue_at=node.clock.now() if overdue else None,
    )


async def visible(
    node: Node, user: User, wanted: RequestFilter, *, cursor: str | None, limit: int = PAGE_SIZE
) -> RequestPage:
    """A page of the requests the user may see, newest first.

    The rules of ``check_visible``, in the query's WHERE clause: investigators see the
    requests they created (sent ones), and a draft is listed to its author only."""
    after = position(cursor, "requests")
    author = None
    if user.role is Role.INVESTIGATOR:
        wanted, author = dataclasses.replace(wanted, direction="out"), user.username
    page = await node.db.run(
        lambda c: request_lists.newest_first(
            c, wanted, drafts_of=user.username, author=author, after=after, limit=limit
        )
    )
    return await _listed(node, page, "requests")


async def inbox(node: Node, *, cursor: str | None, limit: int = PAGE_SIZE) -> RequestPage:
    """A page of received requests, nearest deadline first (those without one last)."""
    after = position(cursor, "inbox")
    page = await node.db.run(
        lambda c: request_lists.nearest_deadline_first(c, after=after, limit=limit)
    )
    return await _listed(node, page, "inbox")


async def _listed(node: Node, page: Page[RequestRow], list_name: str) -> RequestPage:
    shown = listed(page, list_name)
    rows = await with_conditions(node, shown.rows)
    return Listed(annotate(node, rows, node.clock.now()), shown.next)


async def with_conditions(node: Node, rows: list[RequestRow]) -> list[RequestRow]:
    """Each row with its references, handling and evaluation (issue 16), which live in
    the messages' encrypted contents."""
    wanted = [row.id for row in rows]
    types = ("request", "acknowledgement")
    found = await node.db.run(lambda c: message_store.contents_of(c, node.vault, wanted, types))
    return [dataclasses.replace(r, **request_conditions(found[r.id])) for r in rows]


@dataclass(frozen=True)
class RequestDetail:
    """A request with its timeline and decrypted messages (and a draft's form)."""

    row: RequestRow
    timeline: list[TimelineEvent]
    messages: list[MessageView]
    draft: JsonObject | None = None  # the saved form, for a draft

    def to_json(self) -> dict[str, object]:
        shown: dict[str, object] = {
            **self.row.to_json(),
            "timeline": [e.to_json() for e in self.timeline],
            "messages": [m.to_json() for m in self.messages],
        }
        if self.draft is not None:
            shown["draft"] = self.draft
        return shown


async def open_request(node: Node, user: User, request_id: str) -> RequestDetail:
    """A request with its timeline and decrypted messages; opening it is audited.

    Attachments are listed beside each message's content (``attachments``), without
    the keys the sealed content carries for them.
    """
    view = await load_request(node, user, request_id, audit_action="request_opened")
    shown = []
    for message in view.messages:
        content = {k: v for k, v in message.content.items() if k != "attachments"}
        listed = [e.public() for e in attachments_of(message.content)]
        shown.append(dataclasses.replace(message, content=content, attachments=listed))
    live = live_state(node, view.row, node.clock.now())
    conditions = request_conditions([(m.type, m.content) for m in view.messages])
    row = dataclasses.replace(view.row, deadline_state=live, **conditions)
    return dataclasses.replace(view, row=row, messages=shown)


async def load_request(
    node: Node, user: User, request_id: str, *, audit_action: str | None = None
) -> RequestDetail:
    """The request, its timeline and its decrypted messages, if the user may see them."""

    def read(conn: sqlite3.Connection) -> RequestDetail:
        row = store.request_row(conn, request_id)
        check_visible(row, user)
        if audit_action is not None:
            with transaction(conn):
                audit_store.append(
                    conn,
                    at=node.clock.now(),
                    authority=node.me,
                    action=audit_action,
                    actor=user.username,
                    request_id=request_id,
                )
        draft = None
        if row.status is Status.DRAFT:
            draft = draft_store.read_draft(conn, node.vault, request_id)
        return RequestDetail(
            row,
            message_store.timeline(conn, request_id),
            message_store.messages(conn, node.vault, request_id),
            draft,
        )

    return await node.db.run(read)


def check_visible(row: RequestRow, user: User) -> None:
    """Investigators see their own requests only; a draft, its author only."""
    mine = row.created_by == user.username
    if (user.role is Role.INVESTIGATOR or row.status is Status.DRAFT) and not mine:
        # Same answer as for a missing request: do not reveal what exists.
        raise NotFound("no such request")


async def close(node: Node, user: User, request_id: str) -> RequestRow:
    """Close an answered request (investigators: their own sent ones; liaison: any)."""

    def work(conn: sqlite3.Connection) -> RequestRow:
        check_visible(store.request_row(conn, request_id), user)
        return store.close_request(
            conn, me=node.me, request_id=request_id, actor=user.username, now=node.clock.now()
        )

    return await node.db.run(work)
