"""Requests as users see them: who may see which, lists, one request opened (audited),
follow-ups, closing. Every rule of visibility lives here, once."""

from __future__ import annotations

import dataclasses
import sqlite3
from dataclasses import dataclass
from typing import Any

from ..core import ids
from ..core.content import attachments_of
from ..core.errors import NotFound
from ..core.lifecycle import Status
from ..core.roles import Role
from ..store import audit as audit_store
from ..store import drafts as draft_store
from ..store import messages as message_store
from ..store import requests as store
from ..store.db import transaction
from ..store.rows import MessageView, TimelineEvent
from ..store.rows import RequestRow as RequestRow  # the row web pages render
from . import sealing
from .deadlines import annotate, live_state
from .node import Node
from .sessions import User


async def create(
    node: Node,
    *,
    actor: str,
    to: str,
    kind: str,
    urgency: str,
    subject: str,
    body: str,
    language: str,
    deadline: str | None = None,
    attachments: list[str] | None = None,
) -> sealing.Outcome:
    """Check, seal and queue a new request for its recipient (stored with others queued
    at the same moment, in one transaction)."""
    now = node.clock.now()
    form = {"to": to, "kind": kind, "urgency": urgency, "subject": subject, "body": body,
            "language": language, "deadline": deadline}  # fmt: skip
    request_id = ids.request_id()
    sealed = await sealing.prepare_request(node, form, attachments or [], actor=actor, now=now)
    new = store.NewRequest(
        request_id, sealed.message, actor, now, sealed.attachment_ids, sealed.plan
    )
    await node.db.run_batched(node._create_batch, new)
    return sealing.queued(node, request_id, sealed, urgency)


async def visible(
    node: Node, user: User, direction: str | None, limit: int = 200
) -> list[RequestRow]:
    """Request rows the user may see (investigators: their own sent ones), newest first."""
    if user.role is Role.INVESTIGATOR:
        direction = "out"
    rows = await node.db.run(lambda c: store.list_requests(c, direction=direction, limit=limit))
    if user.role is Role.INVESTIGATOR:
        rows = [r for r in rows if r.created_by == user.username]
    return annotate(node, rows, node.clock.now())


async def inbox(node: Node) -> list[RequestRow]:
    """Received requests, nearest deadline first."""
    rows = await node.db.run(lambda c: store.list_requests(c, direction="in"))
    rows.sort(key=lambda r: (r.deadline is None, r.deadline or "", r.created_at))
    return annotate(node, rows, node.clock.now())


@dataclass(frozen=True)
class RequestDetail:
    """A request with its timeline and decrypted messages (and a draft's form)."""

    row: RequestRow
    timeline: list[TimelineEvent]
    messages: list[MessageView]
    draft: dict[str, Any] | None = None  # the saved form, for a draft

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
    row = dataclasses.replace(view.row, deadline_state=live)
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
