"""Where wrapped record keys live, so that a KEK's keys can be found and wrapped anew.

Every column that holds a record key wrapped by the vault is listed in ``KEYED``, with
the vault record name (associated data) of its rows and the time that chose its KEK
period. A wrapped key names its KEK in bytes 2-17 (core/vault.py), which migration 16
indexes. ``kek_erasures`` lists the KEKs that wrapped a key since deleted or replaced
(a discarded draft, a draft sent, a draft saved anew): the retention pass rotates them.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..core.canonical import format_time, parse_time
from ..core.errors import DecryptionFailed
from ..core.vault import KEK_ID_BYTES, LEGACY_WRAPPED_BYTES, WRAPPED_BYTES, Vault, kek_of, seal_name


@dataclass(frozen=True)
class Keyed:
    table: str
    column: str
    record: str  # SQL expression: the vault record name of a row
    sealed_at: str  # SQL expression: when the row's key was first wrapped (or NULL)


KEYED = (
    Keyed("messages", "content_key", "'message:' || sender || ':' || msg_id", "created_at"),
    Keyed("messages", "evidence_key", "'evidence:' || sender || ':' || msg_id", "created_at"),
    Keyed("attachments", "key_wrapped", "'attachment:' || id", "created_at"),
    Keyed("drafts", "content_key", "'draft:' || request_id", "NULL"),
    Keyed("cases", "names_key", "'case:' || id", "created_at"),
    Keyed("uploads", "key_wrapped", "'upload:' || id", "created_at"),
    Keyed(
        "case_messages",
        "content_key",
        "'case-message:' || sender || ':' || msg_id",
        "created_at",
    ),
    Keyed(
        "idempotency_keys", "answer_key", "'idempotency:' || username || ':' || key", "created_at"
    ),
)


def _kek(k: Keyed) -> str:
    """The SQL expression of a row's KEK id (the very one migration 16 indexes)."""
    return f"substr({k.column}, 2, {KEK_ID_BYTES})"


def _rows(conn: sqlite3.Connection, k: Keyed, where: str, arg: object) -> list[tuple[Any, ...]]:
    """``(rowid, record, wrapped, sealed_at)`` of the rows of ``k`` that match."""
    sql = f"SELECT rowid, {k.record}, {k.column}, {k.sealed_at} FROM {k.table} WHERE {where}"  # noqa: S608 (names from KEYED)
    return conn.execute(sql, (arg,)).fetchall()


def _set_key(conn: sqlite3.Connection, k: Keyed, rowid: int, wrapped: bytes) -> None:
    conn.execute(f"UPDATE {k.table} SET {k.column} = ? WHERE rowid = ?", (wrapped, rowid))  # noqa: S608 (names from KEYED)


def in_use(conn: sqlite3.Connection) -> set[str]:
    """Every KEK that some stored key names."""
    found: set[str] = set()
    for k in KEYED:
        sql = f"SELECT DISTINCT {_kek(k)} FROM {k.table} WHERE length({k.column}) = ?"  # noqa: S608 (names from KEYED)
        rows = conn.execute(sql, (WRAPPED_BYTES,)).fetchall()
        found |= {bytes(r[0]).decode("ascii", "replace") for r in rows}
    return found


def wraps_any(conn: sqlite3.Connection, kid: str) -> bool:
    """Whether some stored key is still wrapped under ``kid``."""
    for k in KEYED:
        sql = f"SELECT 1 FROM {k.table} WHERE {_kek(k)} = ? LIMIT 1"  # noqa: S608 (names from KEYED)
        if conn.execute(sql, (kid.encode("ascii"),)).fetchone() is not None:
            return True
    return False


def rewrap(conn: sqlite3.Connection, vault: Vault, old: str, new: str) -> int:
    """Every key wrapped under ``old``, wrapped under ``new`` (inside the caller's
    transaction); returns how many."""
    count = 0
    for k in KEYED:
        rows = _rows(conn, k, f"{_kek(k)} = ?", old.encode("ascii"))
        for rowid, record, wrapped, _ in rows:
            _set_key(conn, k, rowid, vault.rewrap(wrapped, record=record, to=new))
        count += len(rows)
    return count


def legacy_readable(conn: sqlite3.Connection, vault: Vault) -> int:
    """Keys still wrapped by the storage key that it unwraps (a database from before
    migration 16; a backup from before it restored since reads with older keys only)."""
    return sum(1 for k in KEYED for row in _legacy(conn, k) if _unwrap(vault, row) is not None)


def _legacy(conn: sqlite3.Connection, k: Keyed) -> list[tuple[Any, ...]]:
    return _rows(conn, k, f"length({k.column}) = ?", LEGACY_WRAPPED_BYTES)


def _unwrap(vault: Vault, row: tuple[Any, ...]) -> bytes | None:
    try:
        return vault.unwrap(row[2], record=row[1])
    except DecryptionFailed:
        return None  # wrapped by a storage key since replaced: unreadable, left as it is


def adopt_legacy(conn: sqlite3.Connection, vault: Vault, now: datetime) -> int:
    """Keys still wrapped by the storage key (before KEKs), wrapped under the KEK of the
    period they were sealed in; filenames still in clear, sealed. One transaction."""
    count = 0
    for k in KEYED:
        for row in _legacy(conn, k):
            key = _unwrap(vault, row)
            if key is not None:
                rowid, record, _, sealed_at = row
                at = parse_time(sealed_at) if sealed_at else now
                _set_key(conn, k, rowid, vault.wrap(key, record=record, at=at))
                count += 1
    rows = conn.execute(
        "SELECT id, filename, key_wrapped FROM attachments"
        " WHERE filename != '' AND key_wrapped IS NOT NULL"
    ).fetchall()
    for attachment_id, filename, wrapped in rows:
        record = f"attachment:{attachment_id}"
        key = _unwrap(vault, (None, record, wrapped))
        sealed = seal_name(key, filename, record=record) if key is not None else None
        conn.execute(  # a name whose key no longer unwraps goes with it
            "UPDATE attachments SET filename = '', filename_sealed = ? WHERE id = ?",
            (sealed, attachment_id),
        )
    return count + len(rows)


def forget(conn: sqlite3.Connection, wrapped: bytes | None, now: datetime) -> None:
    """A key wrapped under this KEK was deleted or replaced: the next retention pass
    rotates the KEK, so that no earlier copy of the database can unwrap it."""
    kid = kek_of(wrapped) if wrapped is not None else None
    if kid is not None:
        conn.execute(
            "INSERT OR IGNORE INTO kek_erasures (kek_id, since) VALUES (?, ?)",
            (kid, format_time(now)),
        )


def forgotten(conn: sqlite3.Connection) -> set[str]:
    return {str(r[0]) for r in conn.execute("SELECT kek_id FROM kek_erasures")}


def rotated(conn: sqlite3.Connection, kids: set[str]) -> None:
    conn.executemany("DELETE FROM kek_erasures WHERE kek_id = ?", [(k,) for k in kids])


def checkpoint_wal(conn: sqlite3.Connection) -> tuple[int, int, int]:
    """Copy the WAL into the database and truncate it to zero bytes, so the pages an
    erasure freed (zeroed by ``secure_delete``) leave no older copy in the WAL.
    ``(busy, wal_frames, checkpointed)`` as SQLite reports them."""
    row = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    return int(row[0]), int(row[1]), int(row[2])
