"""Resumable uploads from the local API in progress (migration 23): who uploads, the
length declared, how much of the file is sealed into whole chunks on disk (``received``
plaintext bytes in ``blob_bytes`` of blob), and the file's key (wrapped, record
``upload:<id>``, in ``period_keys.KEYED``) and name (sealed with that key)."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime

from ..core.canonical import format_time
from ..core.errors import Conflict, NotFound
from ..core.evidence import MAX_ATTACHMENTS
from ..core.vault import Vault, open_name, seal_name
from .db import fetch_one, transaction


@dataclass(frozen=True)
class UploadInProgress:
    id: str
    owner: str
    length: int
    received: int
    blob_bytes: int
    media_type: str
    filename: str
    key: bytes


def create(
    conn: sqlite3.Connection,
    vault: Vault,
    *,
    upload_id: str,
    owner: str,
    length: int,
    media_type: str,
    filename: str,
    key: bytes,
    header_bytes: int,
    now: datetime,
) -> None:
    """A new upload, or ``Conflict`` when the owner has as many in progress as one
    message may carry files (so that one account cannot fill the disk)."""
    record = f"upload:{upload_id}"
    with transaction(conn):
        (count,) = conn.execute("SELECT COUNT(*) FROM uploads WHERE owner = ?", (owner,)).fetchone()
        if count >= MAX_ATTACHMENTS:
            raise Conflict(f"at most {MAX_ATTACHMENTS} uploads in progress: finish one first")
        conn.execute(
            """INSERT INTO uploads (id, owner, length, received, blob_bytes, media_type,
               filename_sealed, key_wrapped, created_at) VALUES (?, ?, ?, 0, ?, ?, ?, ?, ?)""",
            (upload_id, owner, length, header_bytes, media_type,
             seal_name(key, filename, record=record), vault.wrap(key, record=record),
             format_time(now)),
        )  # fmt: skip


def get(conn: sqlite3.Connection, vault: Vault, upload_id: str, *, owner: str) -> UploadInProgress:
    """The owner's upload in progress (anyone else's is ``NotFound``, as is a finished one)."""
    row = fetch_one(conn, "SELECT * FROM uploads WHERE id = ? AND owner = ?", (upload_id, owner))
    if row is None or row["key_wrapped"] is None:
        raise NotFound("no such upload in progress of yours")
    record = f"upload:{upload_id}"
    key = vault.unwrap(row["key_wrapped"], record=record)
    return UploadInProgress(
        id=row["id"],
        owner=row["owner"],
        length=int(row["length"]),
        received=int(row["received"]),
        blob_bytes=int(row["blob_bytes"]),
        media_type=row["media_type"],
        filename=open_name(key, row["filename_sealed"], record=record),
        key=key,
    )


def advance(conn: sqlite3.Connection, upload_id: str, *, received: int, blob_bytes: int) -> None:
    """Whole chunks up to ``received`` plaintext bytes are synced to disk."""
    with transaction(conn):
        conn.execute(
            "UPDATE uploads SET received = ?, blob_bytes = ? WHERE id = ?",
            (received, blob_bytes, upload_id),
        )


def finish(conn: sqlite3.Connection, upload_id: str) -> None:
    """Inside the transaction that records the attachment: no longer in progress."""
    conn.execute("DELETE FROM uploads WHERE id = ?", (upload_id,))


def drop_stale(conn: sqlite3.Connection, before: datetime) -> list[str]:
    """Uploads started before ``before`` and never finished (as unsent uploads age out,
    ``[retention] unsent_uploads_hours``): dropped; the caller deletes their files."""
    with transaction(conn):
        rows = conn.execute(
            "DELETE FROM uploads WHERE created_at < ? RETURNING id", (format_time(before),)
        ).fetchall()
    return [str(r[0]) for r in rows]
