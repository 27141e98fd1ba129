"""The last good directory document this node accepted (survives restarts)."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from ..core.canonical import format_time, sha256_hex
from . import audit
from .db import transaction


def load(conn: sqlite3.Connection) -> tuple[int, bytes] | None:
    row = conn.execute("SELECT serial, document FROM directory_state WHERE id = 1").fetchone()
    return (int(row[0]), bytes(row[1])) if row else None


def save(conn: sqlite3.Connection, *, me: str, serial: int, document: bytes, now: datetime) -> None:
    with transaction(conn):
        conn.execute(
            """INSERT INTO directory_state (id, serial, document, loaded_at) VALUES (1, ?, ?, ?)
               ON CONFLICT (id) DO UPDATE SET serial = ?, document = ?, loaded_at = ?""",
            (serial, document, format_time(now), serial, document, format_time(now)),
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
    row = conn.execute("SELECT document FROM directory_state WHERE id = 1").fetchone()
    return bytes(row[0]) if row is not None else None
