"""Blob files a peer uploaded before its messages: the quota each peer holds them
under, and the collection of blob files that no attachment names.

A peer's *held* bytes are the blobs it sent that no attachment row references yet
(no accepted message names them) plus the bytes its uploads in progress have reserved.
Reserving checks and records in one ``BEGIN IMMEDIATE`` transaction, so concurrent
uploads from one peer can never together pass the quota.
"""

from __future__ import annotations

import secrets
import sqlite3
from dataclasses import dataclass
from datetime import datetime

from ..core.canonical import format_time, parse_time
from ..core.errors import QuotaExceeded
from .db import transaction

# Each blob counts as at least this many bytes, so a quota in bytes also bounds the
# number of files (a million one-byte blobs would otherwise fit in a megabyte).
MIN_CHARGE = 64 * 1024
_UNREFERENCED = (
    "NOT EXISTS (SELECT 1 FROM attachments AS a WHERE a.blob_sha256 = blob_files.blob_sha256)"
)


def held(conn: sqlite3.Connection, peer: str) -> int:
    """Bytes the peer holds here in unreferenced blobs and uploads in progress."""
    stored = conn.execute(
        "SELECT COALESCE(SUM(MAX(size, ?)), 0) FROM blob_files"  # noqa: S608 (a constant)
        f" WHERE peer = ? AND collected_at IS NULL AND {_UNREFERENCED}",
        (MIN_CHARGE, peer),
    ).fetchone()[0]
    reserved = conn.execute(
        "SELECT COALESCE(SUM(size), 0) FROM blob_reservations WHERE peer = ?", (peer,)
    ).fetchone()[0]
    partial = conn.execute(  # resumable uploads in progress (store/blob_parts.py)
        "SELECT COALESCE(SUM(MAX(length, ?)), 0) FROM blob_parts WHERE peer = ?",
        (MIN_CHARGE, peer),
    ).fetchone()[0]
    return int(stored) + int(reserved) + int(partial)


def reserve(conn: sqlite3.Connection, *, peer: str, size: int, quota: int, now: datetime) -> str:
    """Room for an upload of at most ``size`` bytes, or ``QuotaExceeded``; the id of
    the reservation, to ``settle`` or ``release`` when the upload ends."""
    with transaction(conn):
        if held(conn, peer) + max(size, MIN_CHARGE) > quota:
            raise QuotaExceeded(
                "this node holds as many of your blobs as it keeps for messages not"
                " yet received; send those messages first"
            )
        reservation = secrets.token_hex(12)
        conn.execute(
            "INSERT INTO blob_reservations (id, peer, size, reserved_at) VALUES (?, ?, ?, ?)",
            (reservation, peer, max(size, MIN_CHARGE), format_time(now)),
        )
    return reservation


def release(conn: sqlite3.Connection, reservation: str) -> None:
    with transaction(conn):
        conn.execute("DELETE FROM blob_reservations WHERE id = ?", (reservation,))


def settle(
    conn: sqlite3.Connection,
    reservation: str,
    *,
    blob_sha256: str,
    peer: str,
    size: int,
    now: datetime,
) -> None:
    """The upload is stored: its bytes now count as the blob's, received from ``peer``
    (a file a collection pass saw before this record, or one collected earlier, is the
    peer's from now on)."""
    with transaction(conn):
        conn.execute("DELETE FROM blob_reservations WHERE id = ?", (reservation,))
        record(conn, blob_sha256=blob_sha256, peer=peer, size=size, now=now)


def record(
    conn: sqlite3.Connection, *, blob_sha256: str, peer: str, size: int, now: datetime
) -> None:
    """Inside the caller's transaction: a blob file received whole from ``peer``."""
    conn.execute(
        """INSERT INTO blob_files (blob_sha256, peer, size, received_at)
           VALUES (?, ?, ?, ?)
           ON CONFLICT (blob_sha256) DO UPDATE SET peer = excluded.peer,
               size = excluded.size, received_at = excluded.received_at,
               collected_at = NULL
           WHERE blob_files.peer IS NULL OR blob_files.collected_at IS NOT NULL""",
        (blob_sha256, peer, size, format_time(now)),
    )


def forget_reservations(conn: sqlite3.Connection, before: datetime | None = None) -> int:
    """At start-up: no upload is in progress, so every reservation is a crash's leftover.
    With ``before`` (another process of the authority may be receiving uploads now),
    only the reservations made before then; returns how many went."""
    with transaction(conn):
        if before is None:
            return int(conn.execute("DELETE FROM blob_reservations").rowcount)
        rows = conn.execute("SELECT id, reserved_at FROM blob_reservations").fetchall()
        old = [(r[0],) for r in rows if parse_time(r[1]) < before]
        conn.executemany("DELETE FROM blob_reservations WHERE id = ?", old)
        return len(old)


@dataclass(frozen=True)
class Collectable:
    blob_sha256: str
    size: int
    again: bool  # collected (and audited) before, but its file outlived that pass


def collectable(
    conn: sqlite3.Connection, files: dict[str, int], *, now: datetime, grace_start: datetime
) -> list[Collectable]:
    """Inside the caller's transaction: of the blob files present (name -> size), those
    no attachment names (sent, received, unsent, kept for a draft or erased) that were
    received or first seen before ``grace_start``, marked collected at ``now``. Files
    seen for the first time are recorded, so their grace runs from now."""
    found = []
    for blob, size in sorted(files.items()):
        if conn.execute("SELECT 1 FROM attachments WHERE blob_sha256 = ?", (blob,)).fetchone():
            continue
        row = conn.execute(
            "SELECT received_at, collected_at FROM blob_files WHERE blob_sha256 = ?", (blob,)
        ).fetchone()
        if row is None:
            conn.execute(
                "INSERT INTO blob_files (blob_sha256, peer, size, received_at)"
                " VALUES (?, NULL, ?, ?)",
                (blob, size, format_time(now)),
            )
        elif row[1] is not None:
            found.append(Collectable(blob, size, again=True))
        elif row[0] < format_time(grace_start):
            conn.execute(
                "UPDATE blob_files SET collected_at = ? WHERE blob_sha256 = ?",
                (format_time(now), blob),
            )
            found.append(Collectable(blob, size, again=False))
    return found
