"""Drafts: a request saved, not sent: its form sealed at rest, nothing in the outbox,
until it is sent with the same id (or discarded)."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime

from ..core.canonical import JsonObject, canonical_json, format_time
from ..core.errors import NotFound
from ..core.lifecycle import Event, Status, check_draft
from ..core.vault import Vault
from . import audit, period_keys
from . import evidence as evidence_store
from .cases import NewCase
from .db import fetch_one, transaction
from .messages import OutgoingMessage
from .requests import file_in_case, queue, request_row
from .transitions import Change, Entry, apply


def keep_draft(
    conn: sqlite3.Connection,
    vault: Vault,
    *,
    me: str,
    request_id: str,
    form: JsonObject,
    actor: str,
    now: datetime,
    replace: bool = False,
) -> None:
    """A request saved, not sent: its form sealed at rest, nothing in the outbox. With
    ``replace``, a draft's form sealed anew, and the metadata the lists show updated."""
    key, ciphertext = vault.seal(canonical_json(form), record=f"draft:{request_id}")
    meta = (form["to"], form["kind"], form["urgency"], form["language"])
    with transaction(conn):
        if replace:
            row = request_row(conn, request_id)
            check_draft(row.status)
            _forget_draft_key(conn, request_id, now)
            conn.execute(
                "UPDATE drafts SET content_key = ?, content = ? WHERE request_id = ?",
                (key, ciphertext, request_id),
            )
            conn.execute(
                """UPDATE requests SET counterpart = ?, kind = ?, urgency = ?, language = ?,
                   updated_at = ? WHERE id = ?""",
                (*meta, format_time(now), request_id),
            )
        else:
            conn.execute(
                """INSERT INTO requests (id, origin, msg_id, direction, counterpart, kind,
                   urgency, language, status, created_by, created_at, updated_at)
                   VALUES (?, ?, ?, 'out', ?, ?, ?, ?, ?, ?, ?, ?)""",
                (request_id, me, f"draft-{request_id}", *meta, Status.DRAFT.value, actor,
                 format_time(now), format_time(now)),
            )  # fmt: skip
            conn.execute(
                "INSERT INTO drafts (request_id, content_key, content) VALUES (?, ?, ?)",
                (request_id, key, ciphertext),
            )
        evidence_store.keep_for_draft(
            conn, list(form.get("attachments") or []), owner=actor, draft_id=request_id
        )
        event, action = (
            ("draft_updated", "draft_updated") if replace else ("drafted", "request_drafted")
        )
        fields = {"request_id": request_id, "peer": form["to"]}
        change = Change(
            request_id,
            Status.DRAFT,
            timeline=event,
            actor=actor,
            entries=[Entry(action, actor, fields)],
        )
        apply(conn, [change], me=me, now=now)


def discard_draft(
    conn: sqlite3.Connection, *, me: str, request_id: str, actor: str, now: datetime
) -> None:
    """Delete a draft that was never sent: its sealed form, timeline and row. The audit
    log keeps that it existed and was discarded (ids only)."""
    with transaction(conn):
        row = request_row(conn, request_id)
        check_draft(row.status)
        evidence_store.release_from_draft(conn, request_id)
        _forget_draft_key(conn, request_id, now)
        conn.execute("DELETE FROM drafts WHERE request_id = ?", (request_id,))
        conn.execute("DELETE FROM events WHERE request_id = ?", (request_id,))
        conn.execute("DELETE FROM requests WHERE id = ?", (request_id,))
        audit.append(
            conn,
            at=now,
            authority=me,
            action="draft_discarded",
            actor=actor,
            request_id=request_id,
            peer=row.counterpart,
        )


def read_draft(conn: sqlite3.Connection, vault: Vault, request_id: str) -> JsonObject:
    row = fetch_one(conn, "SELECT * FROM drafts WHERE request_id = ?", (request_id,))
    if row is None:
        raise NotFound("no such draft")
    plain = vault.open(row["content_key"], row["content"], record=f"draft:{request_id}")
    form: JsonObject = json.loads(plain)
    return form


def send_draft(
    conn: sqlite3.Connection,
    vault: Vault,
    *,
    me: str,
    request_id: str,
    message: OutgoingMessage,
    actor: str,
    now: datetime,
    attachment_ids: list[str] | tuple[str, ...] = (),
    deadline_plan: tuple[str, str] | None = None,
    case_id: str | None = None,
    new_case: NewCase | None = None,
) -> None:
    """The draft becomes the sealed request: same id, now queued, filed in its case (one
    transaction)."""
    meta = message.content
    with transaction(conn):
        row = request_row(conn, request_id)
        check_draft(row.status)
        file_in_case(conn, vault, case_id, new_case, actor=actor)
        conn.execute("UPDATE requests SET case_id = ? WHERE id = ?", (case_id, request_id))
        evidence_store.attach(
            conn, list(attachment_ids), msg_id=message.msg_id, peer=message.recipient
        )
        evidence_store.release_from_draft(conn, request_id)
        _forget_draft_key(conn, request_id, now)
        conn.execute("DELETE FROM drafts WHERE request_id = ?", (request_id,))
        conn.execute(
            """UPDATE requests SET msg_id = ?, counterpart = ?, kind = ?, urgency = ?,
               language = ?, created_at = ?, deadline = ? WHERE id = ?""",
            (
                message.msg_id,
                message.recipient,
                meta["kind"],
                meta["urgency"],
                meta["language"],
                format_time(now),
                meta.get("deadline"),
                request_id,
            ),
        )
        # queued: its timeline events and audit entry are the new request's (queue())
        apply(conn, [Change(request_id, row.status, Event.QUEUE)], me=me, now=now)
        if deadline_plan is not None:
            conn.execute(
                "UPDATE requests SET deadline_state = ?, deadline_check_at = ? WHERE id = ?",
                (*deadline_plan, request_id),
            )
        queue(conn, vault, me, request_id, message, actor, now, case_id=case_id)


def _forget_draft_key(conn: sqlite3.Connection, request_id: str, now: datetime) -> None:
    """The draft's sealed form is going: its KEK is rotated at the next retention pass,
    so that the form cannot be read from earlier backups either."""
    row = conn.execute("SELECT content_key FROM drafts WHERE request_id = ?", (request_id,))
    found = row.fetchone()
    period_keys.forget(conn, found[0] if found else None, now)
