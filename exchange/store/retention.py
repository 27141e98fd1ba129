"""Retention: crypto-erasure of the contents of requests past their retention period.

One transaction per pass. For each request due: the wrapped content keys, the
ciphertexts and the sealed filenames of its messages and files are destroyed,
``erased_at`` is set, and a ``content_erased`` audit entry (ids and counts only) is
appended; when the request was the last of its case whose contents were kept, the
case's title and reference are erased with it (``case_erased``), and their KEK is
rotated like the others. Then every KEK that wrapped an erased key (or one forgotten
since the last pass: store/period_keys.forget) is rotated: the keys that stay are wrapped under a
fresh KEK, written and synced before the commit. After the commit the caller destroys
the old KEKs (ops/retention.py), so earlier copies of the database (backups) cannot
unwrap the erased keys either. The audit log is not touched otherwise, so it still
verifies. Blob files are deleted by the caller after the commit.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from ..core.canonical import format_time, parse_time
from ..core.lifecycle import Status
from ..core.retention import RetentionPolicy, due
from ..core.vault import Vault, kek_of
from . import period_keys
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
    keks: set[str] = field(default_factory=set)  # KEKs that wrapped an erased key
    keys_rewrapped: int = 0  # keys that stayed, wrapped under a fresh KEK


def _no_step(step: str) -> None:
    pass


def candidates(conn: sqlite3.Connection, policy: RetentionPolicy, now: datetime) -> list[str]:
    rows = fetch_all(conn, "SELECT id, status, updated_at FROM requests WHERE erased_at IS NULL")
    return [r["id"] for r in rows if due(r["status"], parse_time(r["updated_at"]), policy, now)]


def erase(
    conn: sqlite3.Connection,
    *,
    me: str,
    policy: RetentionPolicy,
    now: datetime,
    vault: Vault,
    dry_run: bool = False,
    step: Callable[[str], None] = _no_step,
) -> Erasure:
    """``step`` is told each step as it is reached ("kek_written"): a test stops there
    the way a crash would."""
    result = Erasure()
    if dry_run:
        result.requests = candidates(conn, policy, now)
        _purge_unsent_uploads(conn, policy, now, result, dry_run)
        return result
    with transaction(conn):
        for request_id in candidates(conn, policy, now):
            result.requests.append(request_id)
            _erase_request(conn, me, request_id, now, result)
        _purge_unsent_uploads(conn, policy, now, result, dry_run)
        _rotate(conn, vault, result.keks | period_keys.forgotten(conn), result, step)
    return result


def _rotate(
    conn: sqlite3.Connection,
    vault: Vault,
    kids: set[str],
    result: Erasure,
    step: Callable[[str], None],
) -> None:
    """Each KEK in ``kids``: retired; the keys it still wraps, wrapped under a fresh one."""
    for kid in sorted(kids):
        if vault.keks.get(kid) is None:
            continue  # destroyed already (a database restored from before an erasure)
        if not period_keys.wraps_any(conn, kid):
            vault.keks.retire({kid})
            continue
        new = vault.keks.rotate(kid)
        step("kek_written")
        result.keys_rewrapped += period_keys.rewrap(conn, vault, kid, new)
    period_keys.rotated(conn, kids)


def _erase_request(
    conn: sqlite3.Connection, me: str, request_id: str, now: datetime, result: Erasure
) -> None:
    with transaction(conn):
        messages = fetch_all(
            conn,
            "SELECT sender, msg_id, content_key, evidence_key FROM messages WHERE request_id = ?",
            (request_id,),
        )
        conn.execute(
            "UPDATE messages SET content_key = NULL, content = NULL, evidence_key = NULL,"
            " evidence_doc = NULL WHERE request_id = ?",
            (request_id,),
        )
        files = 0
        for m in messages:
            result.keks |= _keks(m["content_key"], m["evidence_key"])
            rows = _files_of(conn, me, m["sender"], m["msg_id"])
            for row in rows:
                conn.execute(
                    "UPDATE attachments SET key_wrapped = NULL, filename = '',"
                    " filename_sealed = NULL WHERE id = ?",
                    (row["id"],),
                )
                wrapped = row["key_wrapped"]
                result.keks |= _keks(wrapped if isinstance(wrapped, bytes) else None)
                result.blobs.append(str(row["blob_sha256"]))
                files += 1
        conn.execute(
            "UPDATE requests SET erased_at = ? WHERE id = ?", (format_time(now), request_id)
        )
        fields = {"request_id": request_id, "messages": len(messages), "files": files}
        status = conn.execute("SELECT status FROM requests WHERE id = ?", (request_id,)).fetchone()
        entries = [Entry("content_erased", "retention", fields)]
        apply(conn, [Change(request_id, Status(status[0]), entries=entries)], me=me, now=now)
        result.keks |= _keks(*erase_if_last(conn, me=me, request_id=request_id, now=now))
        result.messages += len(messages)
        result.attachments += files


def _keks(*wrapped: bytes | None) -> set[str]:
    return {kid for w in wrapped if w is not None and (kid := kek_of(w)) is not None}


def _files_of(
    conn: sqlite3.Connection, me: str, sender: str, msg_id: str
) -> list[dict[str, object]]:
    """Files of one message: ours carry upload ids, a peer's "sender:msg_id:id" ids."""
    if sender == me:
        sql = (
            "SELECT id, blob_sha256, key_wrapped FROM attachments"
            " WHERE msg_id = ? AND instr(id, ':') = 0"
            " AND key_wrapped IS NOT NULL"
        )
        return fetch_all(conn, sql, (msg_id,))
    sql = (
        "SELECT id, blob_sha256, key_wrapped FROM attachments WHERE msg_id = ? AND owner = ?"
        " AND key_wrapped IS NOT NULL"
    )
    return fetch_all(conn, sql, (msg_id, sender))


def _purge_unsent_uploads(
    conn: sqlite3.Connection, policy: RetentionPolicy, now: datetime, result: Erasure, dry: bool
) -> None:
    cutoff = format_time(now - policy.unsent_uploads)
    rows = fetch_all(
        conn,
        "SELECT id, blob_sha256, key_wrapped FROM attachments"
        " WHERE msg_id IS NULL AND draft_id IS NULL"
        " AND created_at < ?",
        (cutoff,),
    )
    result.uploads = len(rows)
    if dry or not rows:
        return
    with transaction(conn):
        for row in rows:
            conn.execute("DELETE FROM attachments WHERE id = ?", (row["id"],))
            result.keks |= _keks(row["key_wrapped"])
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
