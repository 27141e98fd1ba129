"""The last good directory document this node accepted (survives restarts), which is
also the highest serial it ever held: a lower one is never accepted, even when that
document has expired or no longer verifies. Every version it ever installed, kept in
serial order (migration 10). And the equivocations it saw."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime

from ..core.canonical import format_time, parse_time, sha256_hex
from . import audit
from .db import transaction


@dataclass(frozen=True)
class HeldDirectory:
    serial: int
    document: bytes
    sha256: str
    loaded_at: datetime


@dataclass(frozen=True)
class EquivocationAlert:
    serial: int
    held_sha256: str
    seen_sha256: str
    at: str


def load(conn: sqlite3.Connection) -> HeldDirectory | None:
    row = conn.execute(
        """SELECT s.serial, h.document, s.loaded_at FROM directory_state s
           LEFT JOIN directory_history h ON h.serial = s.serial WHERE s.id = 1"""
    ).fetchone()
    if row is None:
        return None
    # the serial is the floor even without its document (then nothing verifies)
    document = bytes(row[1]) if row[1] is not None else b""
    return HeldDirectory(int(row[0]), document, sha256_hex(document), parse_time(row[2]))


def save(conn: sqlite3.Connection, *, me: str, serial: int, document: bytes, now: datetime) -> bool:
    """Store ``document`` as the one held; False (nothing written) if the stored serial
    is already as high: another process of the authority stored a newer one meanwhile,
    and the rollback floor never goes down."""
    with transaction(conn):
        stored = stored_serial(conn)
        if stored is not None and stored >= serial:
            return False
        # kept for good: old signatures are checked against the keys of their time;
        # the state names it by serial (one copy: migration 26)
        conn.execute(
            "INSERT OR IGNORE INTO directory_history (serial, document, installed_at)"
            " VALUES (?, ?, ?)",
            (serial, document, format_time(now)),
        )
        conn.execute(
            """INSERT INTO directory_state (id, serial, loaded_at) VALUES (1, ?, ?)
               ON CONFLICT (id) DO UPDATE SET serial = ?, loaded_at = ?""",
            (serial, format_time(now), serial, format_time(now)),
        )
        audit.append(
            conn,
            at=now,
            authority=me,
            action="directory_updated",
            actor="system",
            serial=serial,
            document_sha256=sha256_hex(document),
        )
    return True


def stored_serial(conn: sqlite3.Connection) -> int | None:
    """The serial of the document held (a cheap read: other processes' updates)."""
    row = conn.execute("SELECT serial FROM directory_state WHERE id = 1").fetchone()
    return int(row[0]) if row is not None else None


def history(conn: sqlite3.Connection) -> list[HeldDirectory]:
    """Every directory document installed here, as received, by serial."""
    rows = conn.execute(
        "SELECT serial, document, installed_at FROM directory_history ORDER BY serial"
    ).fetchall()
    return [
        HeldDirectory(int(r[0]), bytes(r[1]), sha256_hex(bytes(r[1])), parse_time(r[2]))
        for r in rows
    ]


def record_rejection(
    conn: sqlite3.Connection, *, me: str, reason: str, document: bytes, now: datetime
) -> None:
    with transaction(conn):
        audit.append(
            conn,
            at=now,
            authority=me,
            action="directory_rejected",
            actor="system",
            reason=reason,
            document_sha256=sha256_hex(document),
        )


def held_document(conn: sqlite3.Connection) -> bytes | None:
    """The last good directory document, as the node stored it."""
    row = conn.execute(
        """SELECT h.document FROM directory_state s
           JOIN directory_history h ON h.serial = s.serial WHERE s.id = 1"""
    ).fetchone()
    return bytes(row[0]) if row is not None else None


def record_equivocation(
    conn: sqlite3.Connection,
    *,
    me: str,
    serial: int,
    held: bytes,
    seen: bytes,
    now: datetime,
) -> bool:
    """Keep both documents as proof and audit it; False if this very document was
    already recorded (one alert per distinct document)."""
    held_sha256, seen_sha256 = sha256_hex(held), sha256_hex(seen)
    with transaction(conn):
        inserted = conn.execute(
            """INSERT OR IGNORE INTO directory_alerts
               (serial, held_sha256, seen_sha256, held_document, seen_document, at)
               VALUES (?, ?, ?, ?, ?, ?)""",
            (serial, held_sha256, seen_sha256, held, seen, format_time(now)),
        ).rowcount
        if inserted:
            audit.append(
                conn,
                at=now,
                authority=me,
                action="directory_equivocation",
                actor="system",
                serial=serial,
                held_sha256=held_sha256,
                seen_sha256=seen_sha256,
            )
    return bool(inserted)


def equivocations(conn: sqlite3.Connection, limit: int = 50) -> list[EquivocationAlert]:
    """The newest equivocation alerts (metadata; the documents stay in the table)."""
    rows = conn.execute(
        "SELECT serial, held_sha256, seen_sha256, at FROM directory_alerts"
        " ORDER BY id DESC LIMIT ?",
        (limit,),
    ).fetchall()
    return [EquivocationAlert(int(r[0]), str(r[1]), str(r[2]), str(r[3])) for r in rows]


def equivocation_count(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT COUNT(*) FROM directory_alerts").fetchone()[0])
