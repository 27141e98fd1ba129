"""Evidence files uploaded at this node, until and after they are sent."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from ..core.canonical import format_time
from ..core.content import attachments_of
from ..core.errors import NotFound
from ..core.evidence import MAX_ATTACHMENTS, ManifestEntry
from ..core.vault import Vault, open_name, seal_name
from .db import fetch_all, fetch_one, transaction


def record(
    conn: sqlite3.Connection, vault: Vault, entry: ManifestEntry, *, owner: str, now: datetime
) -> None:
    """A new upload; its stream key is stored wrapped (core/vault.py), its filename
    sealed with that key (names often name people: they are erased with the file)."""
    record = f"attachment:{entry.id}"
    key_wrapped = vault.wrap(entry.key, record=record)
    with transaction(conn):
        conn.execute(
            """INSERT INTO attachments (id, owner, filename, filename_sealed, media_type,
               size, sha256, blob_sha256, blob_size, key_wrapped, created_at)
               VALUES (?, ?, '', ?, ?, ?, ?, ?, ?, ?, ?)""",
            (
                entry.id,
                owner,
                seal_name(entry.key, entry.filename, record=record),
                entry.media_type,
                entry.size,
                entry.sha256,
                entry.blob_sha256,
                entry.blob_size,
                key_wrapped,
                format_time(now),
            ),
        )


def claim(
    conn: sqlite3.Connection, vault: Vault, ids: list[str], *, owner: str
) -> list[ManifestEntry]:
    """The caller's own unsent uploads, as manifest entries (with their keys)."""
    if len(ids) > MAX_ATTACHMENTS or len(set(ids)) != len(ids):
        raise NotFound(f"at most {MAX_ATTACHMENTS} distinct attachments per message")
    entries = []
    for attachment_id in ids:
        row = fetch_one(
            conn,
            "SELECT * FROM attachments WHERE id = ? AND owner = ? AND msg_id IS NULL"
            " AND key_wrapped IS NOT NULL",
            (attachment_id, owner),
        )
        if row is None:
            raise NotFound(f"no unsent attachment {attachment_id!r} of yours")
        key = vault.unwrap(row["key_wrapped"], record=f"attachment:{attachment_id}")
        entries.append(_entry(row, key, filename_of(row, key)))
    return entries


def keep_for_draft(conn: sqlite3.Connection, ids: list[str], *, owner: str, draft_id: str) -> None:
    """The draft's uploads (the owner's, unsent) belong to it now, and to it alone:
    retention keeps them while the draft exists."""
    if len(ids) > MAX_ATTACHMENTS or len(set(ids)) != len(ids):
        raise NotFound(f"at most {MAX_ATTACHMENTS} distinct attachments per message")
    release_from_draft(conn, draft_id)
    for attachment_id in ids:
        cursor = conn.execute(
            "UPDATE attachments SET draft_id = ? WHERE id = ? AND owner = ? AND msg_id IS NULL"
            " AND key_wrapped IS NOT NULL AND draft_id IS NULL",
            (draft_id, attachment_id, owner),
        )
        if cursor.rowcount != 1:
            raise NotFound(f"no unsent attachment {attachment_id!r} of yours")


def release_from_draft(conn: sqlite3.Connection, draft_id: str) -> None:
    """A discarded or sent draft keeps no uploads (unsent ones age out as usual)."""
    conn.execute("UPDATE attachments SET draft_id = NULL WHERE draft_id = ?", (draft_id,))


def attach(conn: sqlite3.Connection, ids: list[str], *, msg_id: str, peer: str) -> None:
    """Inside the message's own transaction: these files leave with it."""
    for attachment_id in ids:
        cursor = conn.execute(
            "UPDATE attachments SET msg_id = ?, peer = ? WHERE id = ? AND msg_id IS NULL",
            (msg_id, peer, attachment_id),
        )
        if cursor.rowcount != 1:
            raise NotFound(f"attachment {attachment_id!r} was already sent")


@dataclass(frozen=True)
class PendingBlob:
    """A blob the peer needs before the message that names it."""

    attachment_id: str
    blob_sha256: str
    blob_size: int


@dataclass(frozen=True)
class Upload:
    """What the uploader is told of a stored file (never its key or blob name)."""

    id: str
    filename: str
    media_type: str
    size: int
    sha256: str

    def to_json(self) -> dict[str, object]:
        return asdict(self)


def to_upload(conn: sqlite3.Connection, msg_ids: list[str]) -> list[PendingBlob]:
    """Blobs the peer still needs before these messages can be delivered."""
    if not msg_ids:
        return []
    marks = ",".join("?" * len(msg_ids))
    sql = (
        "SELECT id, blob_sha256, blob_size FROM attachments"  # noqa: S608 (placeholders only)
        f" WHERE uploaded = 0 AND msg_id IN ({marks})"
    )
    rows = fetch_all(conn, sql, tuple(msg_ids))
    return [PendingBlob(row["id"], row["blob_sha256"], int(row["blob_size"])) for row in rows]


def mark_uploaded(conn: sqlite3.Connection, attachment_id: str) -> None:
    conn.execute("UPDATE attachments SET uploaded = 1 WHERE id = ?", (attachment_id,))


def record_sent(conn: sqlite3.Connection, attachment_id: str, sent: int) -> None:
    with transaction(conn):
        conn.execute("UPDATE attachments SET sent_bytes = ? WHERE id = ?", (sent, attachment_id))


def progress(conn: sqlite3.Connection, msg_ids: list[str]) -> dict[str, tuple[int, int]]:
    """Of each file these messages of ours send: (bytes of its blob the recipient has
    confirmed, blob size), by attachment id."""
    if not msg_ids:
        return {}
    marks = ",".join("?" * len(msg_ids))
    sql = (
        "SELECT id, uploaded, sent_bytes, blob_size FROM attachments"  # noqa: S608 (placeholders only)
        f" WHERE msg_id IN ({marks})"
    )
    rows = fetch_all(conn, sql, tuple(msg_ids))
    return {
        r["id"]: (int(r["blob_size"] if r["uploaded"] else r["sent_bytes"]), int(r["blob_size"]))
        for r in rows
    }


def upload_again(conn: sqlite3.Connection, msg_ids: list[str]) -> None:
    """The peer says a blob of these messages is not there (it collected it after our
    upload): send their blobs again before the next attempt."""
    conn.executemany(
        "UPDATE attachments SET uploaded = 0 WHERE msg_id = ?", [(m,) for m in msg_ids]
    )


def filename_of(row: Mapping[str, Any], key: bytes) -> str:
    """An attachment's filename, opened with its key (a row from before migration 16
    that the node has not sealed yet still has it in clear)."""
    sealed = row["filename_sealed"]
    if sealed is None:
        return str(row["filename"])
    return open_name(key, sealed, record=f"attachment:{row['id']}")


def _entry(row: Mapping[str, Any], key: bytes, filename: str) -> ManifestEntry:
    return ManifestEntry(
        id=row["id"],
        filename=filename,
        media_type=row["media_type"],
        size=row["size"],
        sha256=row["sha256"],
        blob_sha256=row["blob_sha256"],
        blob_size=row["blob_size"],
        key=key,
    )


def unsent(conn: sqlite3.Connection, vault: Vault, ids: list[str], *, owner: str) -> list[Upload]:
    """What the owner is shown of their uploads not yet sent (kept across a form's
    retries): the filename opened with the file's key."""
    found = []
    for attachment_id in ids[:MAX_ATTACHMENTS]:
        row = fetch_one(
            conn,
            "SELECT id, filename, filename_sealed, key_wrapped, media_type, size, sha256"
            " FROM attachments WHERE id = ? AND owner = ? AND msg_id IS NULL"
            " AND key_wrapped IS NOT NULL",
            (attachment_id, owner),
        )
        if row is not None:
            key = vault.unwrap(row["key_wrapped"], record=f"attachment:{attachment_id}")
            name = filename_of(row, key)
            found.append(Upload(row["id"], name, row["media_type"], row["size"], row["sha256"]))
    return found


def record_received(
    conn: sqlite3.Connection,
    vault: Vault,
    content: dict[str, Any],
    *,
    sender: str,
    msg_id: str,
    now: datetime,
) -> None:
    """The files of a message from a peer, so that retention can erase them too."""
    for entry in attachments_of(content):
        record = f"attachment:{sender}:{msg_id}:{entry.id}"
        conn.execute(
            """INSERT OR IGNORE INTO attachments (id, owner, filename, filename_sealed,
               media_type, size, sha256, blob_sha256, blob_size, key_wrapped, msg_id, peer,
               uploaded, created_at)
               VALUES (?, ?, '', ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?)""",
            (
                f"{sender}:{msg_id}:{entry.id}",
                sender,
                seal_name(entry.key, entry.filename, record=record),
                entry.media_type,
                entry.size,
                entry.sha256,
                entry.blob_sha256,
                entry.blob_size,
                vault.wrap(entry.key, record=record),
                msg_id,
                sender,
                format_time(now),
            ),
        )
