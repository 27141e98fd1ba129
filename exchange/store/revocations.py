"""Emergency revocation statements this node holds (migration 11): one per
(authority, key), the earliest ``revoked_at`` kept; recorded with its audit entry."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime

from ..core.canonical import format_time, parse_time, sha256_hex
from . import audit
from .db import transaction


@dataclass(frozen=True)
class HeldRevocation:
    authority: str
    key_id: str
    revoked_at: datetime
    issued_at: datetime
    received_at: datetime


def record(
    conn: sqlite3.Connection,
    *,
    me: str,
    authority: str,
    key_id: str,
    revoked_at: datetime,
    issued_at: datetime,
    statement: bytes,
    now: datetime,
) -> bool:
    """Keep the statement unless one as early or earlier for that key is held; audited
    as ``revocation_received``. False when nothing changed (idempotent)."""
    with transaction(conn):
        row = conn.execute(
            "SELECT revoked_at FROM revocations WHERE authority = ? AND key_id = ?",
            (authority, key_id),
        ).fetchone()
        if row is not None and parse_time(row[0]) <= revoked_at:
            return False
        conn.execute(
            """INSERT INTO revocations
               (authority, key_id, revoked_at, issued_at, statement, received_at)
               VALUES (?, ?, ?, ?, ?, ?)
               ON CONFLICT (authority, key_id) DO UPDATE SET revoked_at = excluded.revoked_at,
               issued_at = excluded.issued_at, statement = excluded.statement,
               received_at = excluded.received_at""",
            (authority, key_id, format_time(revoked_at), format_time(issued_at), statement,
             format_time(now)),
        )  # fmt: skip
        audit.append(
            conn, at=now, authority=me, action="revocation_received", actor="system",
            revoked_authority=authority, key_id=key_id, revoked_at=format_time(revoked_at),
            statement_sha256=sha256_hex(statement),
        )  # fmt: skip
    return True


def record_sent(
    conn: sqlite3.Connection, *, me: str, key_id: str, peer: str, outcome: str, now: datetime
) -> None:
    with transaction(conn):
        audit.append(
            conn, at=now, authority=me, action="revocation_sent", actor="admin",
            key_id=key_id, peer=peer, outcome=outcome,
        )  # fmt: skip


def held(conn: sqlite3.Connection) -> list[HeldRevocation]:
    rows = conn.execute(
        "SELECT authority, key_id, revoked_at, issued_at, received_at FROM revocations"
        " ORDER BY received_at, authority, key_id"
    ).fetchall()
    return [
        HeldRevocation(str(r[0]), str(r[1]), parse_time(r[2]), parse_time(r[3]), parse_time(r[4]))
        for r in rows
    ]
