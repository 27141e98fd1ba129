"""Drafts: a checked request kept at the node, its form sealed at rest, visible to its
author only, who may replace it, discard it or send it (same request id)."""

from __future__ import annotations

import sqlite3

from ..core import ids
from ..core.errors import NotFound
from ..core.lifecycle import check_draft
from ..store import drafts as draft_store
from ..store import requests as store
from ..store.rows import RequestRow
from . import cases, sealing
from .forms import RequestForm
from .node import Node
from .sealing import Outcome


async def save(node: Node, *, actor: str, form: RequestForm) -> Outcome:
    """Keep a complete request without sending it (checked now, sealed when sent)."""
    now = node.clock.now()
    form.check(node)
    saved = form.to_json()
    request_id = ids.request_id()
    await node.db.run(
        lambda c: draft_store.keep_draft(
            c, node.vault, me=node.me, request_id=request_id, form=saved, actor=actor, now=now
        )
    )
    return Outcome(request_id, "draft")


async def update(
    node: Node,
    *,
    actor: str,
    request_id: str,
    form: RequestForm,
) -> Outcome:
    """Replace the form of one of the actor's own drafts."""
    now = node.clock.now()
    form.check(node)
    saved = form.to_json()

    def update(conn: sqlite3.Connection) -> None:
        _own(node, conn, actor, request_id)
        draft_store.keep_draft(
            conn, node.vault, me=node.me, request_id=request_id, form=saved, actor=actor,
            now=now, replace=True,
        )  # fmt: skip

    await node.db.run(update)
    return Outcome(request_id, "draft")


async def discard(node: Node, *, actor: str, request_id: str) -> Outcome:
    """Delete one of the actor's own drafts (nothing was ever sent)."""
    now = node.clock.now()

    def discard(conn: sqlite3.Connection) -> None:
        _own(node, conn, actor, request_id)
        draft_store.discard_draft(conn, me=node.me, request_id=request_id, actor=actor, now=now)

    await node.db.run(discard)
    return Outcome(request_id, "discarded")


async def read_own(node: Node, *, actor: str, request_id: str) -> RequestForm:
    """The form of one of the actor's own drafts (to edit or send it)."""

    def load(conn: sqlite3.Connection) -> RequestForm:
        _own(node, conn, actor, request_id)
        return RequestForm.of(draft_store.read_draft(conn, node.vault, request_id))

    return await node.db.run(load)


def _own(node: Node, conn: sqlite3.Connection, actor: str, request_id: str) -> RequestRow:
    row = store.request_row(conn, request_id)
    if row.created_by != actor:
        raise NotFound("no such request")
    check_draft(row.status)
    return row


async def send(node: Node, *, actor: str, request_id: str) -> Outcome:
    now = node.clock.now()
    saved = await read_own(node, actor=actor, request_id=request_id)
    case_id, new_case = await cases.filing(node, actor=actor, case_id=saved.case_id, now=now)
    sealed = await sealing.prepare_request(node, saved, actor=actor, now=now)
    await node.db.run(
        lambda c: draft_store.send_draft(
            c,
            node.vault,
            me=node.me,
            request_id=request_id,
            message=sealed.message,
            actor=actor,
            now=now,
            attachment_ids=sealed.attachment_ids,
            deadline_plan=sealed.plan,
            case_id=case_id,
            new_case=new_case,
        )
    )
    return sealing.queued(node, request_id, sealed, saved.urgency, case_id)
