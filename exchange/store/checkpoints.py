"""Signed checkpoints of this node's audit log, and the cosignatures peers sent back."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime

from ..core.canonical import format_time
from . import audit
from .db import fetch_all, fetch_one, transaction


@dataclass(frozen=True)
class StoredCheckpoint:
    size: int
    root: bytes
    note: str
    created_at: str


def _row(row: dict[str, object]) -> StoredCheckpoint:
    return StoredCheckpoint(
        int(row["size"]),  # type: ignore[call-overload]
        bytes(row["root"]),  # type: ignore[call-overload]
        str(row["note"]),
        str(row["created_at"]),
    )


def save(conn: sqlite3.Connection, *, size: int, root: bytes, note: str, now: datetime) -> None:
    with transaction(conn):
        conn.execute(
            "INSERT OR IGNORE INTO audit_checkpoints (size, root, note, created_at)"
            " VALUES (?, ?, ?, ?)",
            (size, root, note, format_time(now)),
        )


def add(
    conn: sqlite3.Connection, *, size: int, root: bytes, note: str, now: datetime
) -> StoredCheckpoint:
    """``save`` in one statement, inside the caller's transaction (the signing's, which
    read the latest checkpoint: none of this size exists); returns the row stored."""
    if not conn.in_transaction:
        raise RuntimeError("a checkpoint is added inside the signing's transaction")
    created_at = format_time(now)
    cursor = conn.execute(
        "INSERT OR IGNORE INTO audit_checkpoints (size, root, note, created_at)"
        " VALUES (?, ?, ?, ?)",
        (size, root, note, created_at),
    )
    if cursor.rowcount > 0:
        return StoredCheckpoint(size, root, note, created_at)
    stored = at_size(conn, size)  # (as save did: a row of this size already there stands)
    assert stored is not None
    return stored


def latest_and_log_size(conn: sqlite3.Connection) -> tuple[StoredCheckpoint | None, int]:
    """The latest checkpoint and the audit log's size now, in one statement."""
    row = conn.execute(
        "SELECT size, root, note, created_at,"
        " (SELECT COALESCE(MAX(idx) + 1, 0) FROM audit_entries)"
        " FROM audit_checkpoints ORDER BY size DESC LIMIT 1"
    ).fetchone()
    if row is None:  # nothing signed yet
        return None, audit.size(conn)
    size, root, note, created_at, log_size = row
    return StoredCheckpoint(int(size), bytes(root), str(note), str(created_at)), int(log_size)


def latest(conn: sqlite3.Connection) -> StoredCheckpoint | None:
    row = fetch_one(conn, "SELECT * FROM audit_checkpoints ORDER BY size DESC LIMIT 1")
    return _row(row) if row else None


def latest_cosigned(conn: sqlite3.Connection) -> StoredCheckpoint | None:
    row = fetch_one(
        conn,
        """SELECT * FROM audit_checkpoints WHERE size IN (SELECT size FROM audit_cosignatures)
           ORDER BY size DESC LIMIT 1""",
    )
    return _row(row) if row else None


def at_size(conn: sqlite3.Connection, size: int) -> StoredCheckpoint | None:
    row = fetch_one(conn, "SELECT * FROM audit_checkpoints WHERE size = ?", (size,))
    return _row(row) if row else None


def all_checkpoints(conn: sqlite3.Connection) -> list[StoredCheckpoint]:
    return [_row(r) for r in fetch_all(conn, "SELECT * FROM audit_checkpoints ORDER BY size")]


def add_cosignature(
    conn: sqlite3.Connection, *, size: int, witness: str, line: str, signed_at: int
) -> bool:
    """Keep the newest cosignature per witness and checkpoint; True if stored."""
    with transaction(conn):
        cursor = conn.execute(
            """INSERT INTO audit_cosignatures (size, witness, line, signed_at) VALUES (?, ?, ?, ?)
               ON CONFLICT (size, witness) DO UPDATE SET line = excluded.line,
               signed_at = excluded.signed_at
               WHERE excluded.signed_at > audit_cosignatures.signed_at""",
            (size, witness, line, signed_at),
        )
        return cursor.rowcount > 0


def cosignatures(conn: sqlite3.Connection, size: int) -> list[tuple[str, str, int]]:
    """``(witness, signature line, unix time)`` for the checkpoint of ``size``."""
    rows = conn.execute(
        "SELECT witness, line, signed_at FROM audit_cosignatures WHERE size = ? ORDER BY witness",
        (size,),
    ).fetchall()
    return [(str(w), str(line), int(t)) for w, line, t in rows]


def all_cosignatures(conn: sqlite3.Connection) -> list[tuple[int, str, str, int]]:
    rows = conn.execute(
        "SELECT size, witness, line, signed_at FROM audit_cosignatures ORDER BY size, witness"
    ).fetchall()
    return [(int(s), str(w), str(line), int(t)) for s, w, line, t in rows]
