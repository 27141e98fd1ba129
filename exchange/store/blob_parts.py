"""Resumable blob uploads from peers (migration 23): for each peer and blob, the length
it declared and how many bytes of it were verified and kept so far.

An upload is the peer's own: another peer sending the same blob has its own row and
its own file, so no peer can touch another's partial blob. Its declared length counts
under the peer's quota (``store/blobs.held``) from its first verified part until it
completes or is dropped; the check and the insert are one ``BEGIN IMMEDIATE``
transaction, so concurrent uploads from one peer can never together pass the quota.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime

from ..core.canonical import format_time
from ..core.errors import QuotaExceeded
from . import blobs
from .db import fetch_one, transaction


@dataclass(frozen=True)
class PartialBlob:
    peer: str
    blob_sha256: str
    length: int
    verified: int


def get(conn: sqlite3.Connection, peer: str, blob_sha256: str) -> PartialBlob | None:
    row = fetch_one(
        conn,
        "SELECT length, verified FROM blob_parts WHERE peer = ? AND blob_sha256 = ?",
        (peer, blob_sha256),
    )
    if row is None:
        return None
    return PartialBlob(peer, blob_sha256, int(row["length"]), int(row["verified"]))


def start(
    conn: sqlite3.Connection,
    *,
    peer: str,
    blob_sha256: str,
    length: int,
    verified: int,
    quota: int,
    now: datetime,
) -> None:
    """A new upload whose first part is verified, or ``QuotaExceeded`` (nothing kept)."""
    with transaction(conn):
        if blobs.held(conn, peer) + max(length, blobs.MIN_CHARGE) > quota:
            raise QuotaExceeded(
                "this node holds as many of your blobs as it keeps for messages not"
                " yet received; send those messages first"
            )
        conn.execute(
            """INSERT INTO blob_parts (peer, blob_sha256, length, verified, started_at,
               updated_at) VALUES (?, ?, ?, ?, ?, ?)""",
            (peer, blob_sha256, length, verified, format_time(now), format_time(now)),
        )


def advance(
    conn: sqlite3.Connection, *, peer: str, blob_sha256: str, verified: int, now: datetime
) -> None:
    """A further part is verified and on disk (its file was synced before this commit)."""
    with transaction(conn):
        conn.execute(
            "UPDATE blob_parts SET verified = ?, updated_at = ? WHERE peer = ? AND blob_sha256 = ?",
            (verified, format_time(now), peer, blob_sha256),
        )


def drop(conn: sqlite3.Connection, *, peer: str, blob_sha256: str) -> None:
    with transaction(conn):
        conn.execute(
            "DELETE FROM blob_parts WHERE peer = ? AND blob_sha256 = ?", (peer, blob_sha256)
        )


def complete(
    conn: sqlite3.Connection, *, peer: str, blob_sha256: str, size: int, now: datetime
) -> None:
    """The whole blob matched its name and is in place: it is the peer's stored blob
    now (``store/blobs``), no longer an upload in progress; one transaction."""
    with transaction(conn):
        conn.execute(
            "DELETE FROM blob_parts WHERE peer = ? AND blob_sha256 = ?", (peer, blob_sha256)
        )
        blobs.record(conn, blob_sha256=blob_sha256, peer=peer, size=size, now=now)


def drop_stale(conn: sqlite3.Connection, before: datetime) -> list[PartialBlob]:
    """Uploads no part has advanced since ``before`` (their senders gave up): dropped,
    so that they stop holding their peer's quota; the caller deletes their files."""
    with transaction(conn):
        rows = conn.execute(
            "DELETE FROM blob_parts WHERE updated_at < ?"
            " RETURNING peer, blob_sha256, length, verified",
            (format_time(before),),
        ).fetchall()
    return [PartialBlob(r[0], r[1], int(r[2]), int(r[3])) for r in rows]
