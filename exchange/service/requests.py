"""Requests as users see them: who may see which, lists, one request opened (audited),
follow-ups, closing. Every rule of visibility lives here, once."""

from __future__ import annotations

from typing import Any

from ..core import ids
from ..core.content import attachments_of
from ..core.errors import NotFound
from ..core.roles import Role
from ..store import audit as audit_store
from ..store import requests as store
from ..store.db import transaction
from . import sealing
from .deadlines import annotate
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
) -> dict[str, Any]:
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
) -> list[dict[str, Any]]:
    """Request rows the user may see (investigators: their own sent ones), newest first."""
    if user.role is Role.INVESTIGATOR:
        direction = "out"
    rows = await node.db.run(lambda c: store.list_requests(c, direction=direction, limit=limit))
    if user.role is Role.INVESTIGATOR:
        rows = [r for r in rows if r["created_by"] == user.username]
    return annotate(node, rows, node.clock.now())


async def inbox(node: Node) -> list[dict[str, Any]]:
    """Received requests, nearest deadline first."""
    rows = await node.db.run(lambda c: store.list_requests(c, direction="in"))
    rows.sort(key=lambda r: (r["deadline"] is None, r["deadline"] or "", r["created_at"]))
    return annotate(node, rows, node.clock.now())


async def open_request(node: Node, user: User, request_id: str) -> dict[str, Any]:
    """A request with its timeline and decrypted messages; opening it is audited.

    Attachments are listed beside each message's content (``attachments``), without
    the keys the sealed content carries for them.
    """
    view = await load_request(node, user, request_id, audit_action="request_opened")
    for message in view["messages"]:
        entries = attachments_of(message["content"])
        message["content"].pop("attachments", None)
        message["attachments"] = [e.public() for e in entries]
    return annotate(node, [view], node.clock.now())[0]


async def load_request(
    node: Node, user: User, request_id: str, *, audit_action: str | None = None
) -> dict[str, Any]:
    """The request, its timeline and its decrypted messages, if the user may see them."""

    def read(conn: Any) -> dict[str, Any]:
        row = store.get_request(conn, request_id)
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
        view = {
            **row,
            "timeline": store.timeline(conn, request_id),
            "messages": store.messages(conn, node.vault, request_id),
        }
        if row["status"] == "draft":
            view["draft"] = store.read_draft(conn, node.vault, request_id)
        return view

    return await node.db.run(read)


def check_visible(row: dict[str, Any], user: User) -> None:
    mine = row["created_by"] == user.username
    if (user.role is Role.INVESTIGATOR or row["status"] == "draft") and not mine:
        # Same answer as for a missing request: do not reveal what exists.
        raise NotFound("no such request")


async def close(node: Node, user: User, request_id: str) -> dict[str, Any]:
    """Close an answered request (investigators: their own sent ones; liaison: any)."""

    def work(conn: Any) -> dict[str, Any]:
        row = store.get_request(conn, request_id)
        check_visible(row, user)
        return store.close_request(
            conn, me=node.me, request_id=request_id, actor=user.username, now=node.clock.now()
        )

    return await node.db.run(work)
