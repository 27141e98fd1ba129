"""The database file as a whole: opened read-only (for an auditor's check), copied
online into a consistent snapshot (SQLite's backup API: WAL readers do not block the
writer), and checked for integrity."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from ..core.errors import ExchangeError
from .db import create_private


def open_read_only(database: Path) -> sqlite3.Connection:
    if not database.exists():
        raise ExchangeError(f"no database at {database}", code="not_found")
    return sqlite3.connect(f"file:{database}?mode=ro", uri=True, check_same_thread=False)


def copy(source: Path, target: Path, *, pages: int = -1) -> None:
    """A consistent copy of ``source`` written to ``target`` (a new file), in steps of
    ``pages`` pages so a serving node keeps writing meanwhile; the copy needs no WAL."""
    reader = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    try:
        create_private(target)  # 0600 from the first byte, and its journal too
        writer = sqlite3.connect(target)
        try:
            reader.backup(writer, pages=pages)
            writer.execute("PRAGMA journal_mode=DELETE")
        finally:
            writer.close()
    finally:
        reader.close()


def integrity_ok(conn: sqlite3.Connection) -> bool:
    """SQLite's own check of every page and index."""
    row = conn.execute("PRAGMA integrity_check").fetchone()
    return row is not None and row[0] == "ok"


def fold_wal(database: Path) -> None:
    """Fold the write-ahead log into the file and let SQLite remove it (the last
    connection to close does), so the file alone is the whole database."""
    conn = sqlite3.connect(database)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
