"""Retention: crypto-erasure of the contents of requests past their retention period.

One transaction per request: the wrapped content keys and the ciphertexts of
its messages and files are destroyed, ``erased_at`` is set, and a
``content_erased`` audit entry (ids and counts only) is appended; when the request
was the last of its case whose contents were kept, the case's title and reference are
erased in the same transaction (``case_erased``). The audit log
is not touched otherwise, so it still verifies. Blob files are deleted by the
caller after the commit (without their keys they are noise already).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from datetime import datetime

from ..core.canonical import format_time, parse_time
from ..core.lifecycle import Status
from ..core.retention import RetentionPolicy, due
from .cases import erase_if_last
from .db import fetch_all, transaction
from .transitions import Change, Entry, apply


@dataclass
class Erasure:
    requests: list[str] = field(default_factory=list)
    messages: int = 0
    attachments: int = 0
    uploads: int = 0
    blobs: list[str] = field(default_factory=list)  # files to delete after the commit


def candidates(conn: sqlite3.Connection, policy: RetentionPolicy, now: datetime) -> list[str]:
    rows = fetch_all(conn, "SELECT id, status, updated_at FROM requests WHERE erased_at IS NULL")
    return [r["id"] for r in rows if due(r["status"], parse_time(r["updated_at"]), policy, now)]


def erase(
    conn: sqlite3.Connection,
    *,
    me: str,
    policy: RetentionPolicy,
    now: datetime,
    dry_run: bool = False,
) -> Erasure:
    result = Erasure()
    for request_id in candidates(conn, policy, now):
        result.requests.append(request_id)
        if not dry_run:
            _erase_request(conn, me, request_id, now, result)
    _purge_unsent_uploads(conn, policy, now, result, dry_run)
    return result


def _erase_request(
    conn: sqlite3.Connection, me: str, request_id: str, now: datetime, result: Erasure
) -> None:
    with transaction(conn):
        messages = fetch_all(
            conn, "SELECT sender, msg_id FROM messages WHERE request_id = ?", (request_id,)
        )
        conn.execute(
            "UPDATE messages SET content_key = NULL, content = NULL, evidence_key = NULL,"
            " evidence_doc = NULL WHERE request_id = ?",
            (request_id,),
        )
        files = 0
        for m in messages:
            rows = _files_of(conn, me, m["sender"], m["msg_id"])
            for row in rows:
                conn.execute("UPDATE attachments SET key_wrapped = NULL WHERE id = ?", (row["id"],))
                result.blobs.append(str(row["blob_sha256"]))
                files += 1
        conn.execute(
            "UPDATE requests SET erased_at = ? WHERE id = ?", (format_time(now), request_id)
        )
        fields = {"request_id": request_id, "messages": len(messages), "files": files}
        status = conn.execute("SELECT status FROM requests WHERE id = ?", (request_id,)).fetchone()
        entries = [Entry("content_erased", "retention", fields)]
        apply(conn, [Change(request_id, Status(status[0]), entries=entries)], me=me, now=now)
        erase_if_last(conn, me=me, request_id=request_id, now=now)
        result.messages += len(messages)
        result.attachments += files


def _files_of(
    conn: sqlite3.Connection, me: str, sender: str, msg_id: str
) -> list[dict[str, object]]:
    """Files of one message: ours carry upload ids, a peer's "sender:msg_id:id" ids."""
    if sender == me:
        sql = (
            "SELECT id, blob_sha256 FROM attachments WHERE msg_id = ? AND instr(id, ':') = 0"
            " AND key_wrapped IS NOT NULL"
        )
        return fetch_all(conn, sql, (msg_id,))
    sql = (
        "SELECT id, blob_sha256 FROM attachments WHERE msg_id = ? AND owner = ?"
        " AND key_wrapped IS NOT NULL"
    )
    return fetch_all(conn, sql, (msg_id, sender))


def _purge_unsent_uploads(
    conn: sqlite3.Connection, policy: RetentionPolicy, now: datetime, result: Erasure, dry: bool
) -> None:
    cutoff = format_time(now - policy.unsent_uploads)
    rows = fetch_all(
        conn,
        "SELECT id, blob_sha256 FROM attachments WHERE msg_id IS NULL AND draft_id IS NULL"
        " AND created_at < ?",
        (cutoff,),
    )
    result.uploads = len(rows)
    if dry or not rows:
        return
    with transaction(conn):
        for row in rows:
            conn.execute("DELETE FROM attachments WHERE id = ?", (row["id"],))
            result.blobs.append(row["blob_sha256"])


def blobs_still_needed(conn: sqlite3.Connection, blobs: list[str]) -> set[str]:
    """Blobs that another live record still points to (the same file sent twice)."""
    needed = set()
    for blob in set(blobs):
        row = conn.execute(
            "SELECT 1 FROM attachments WHERE blob_sha256 = ? AND key_wrapped IS NOT NULL", (blob,)
        ).fetchone()
        if row:
            needed.add(blob)
    return needed
