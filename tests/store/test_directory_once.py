"""The directory document held is stored once (migration 26): ``directory_state`` keeps
the serial, the rollback floor, and names its document in ``directory_history``. At
3,000 authorities every node wrote 3.8 MB twice at every update."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from exchange.store import directory_cache
from exchange.store.db import Database, migrate, transaction
from exchange.store.schema import MIGRATIONS

NOW = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)


def stored_bytes(conn: sqlite3.Connection) -> int:
    """Every byte of directory document the node keeps, wherever it is."""
    columns = [
        (table, column)
        for (table,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        if table.startswith("directory_") and table != "directory_alerts"
        for (_, column, *_) in conn.execute(f"PRAGMA table_info({table})")
        if column == "document"
    ]
    return sum(
        # names read from sqlite_master just above, not input
        conn.execute(f"SELECT COALESCE(SUM(length({c})), 0) FROM {t}").fetchone()[0]  # noqa: S608
        for t, c in columns
    )


def test_an_installed_directory_is_stored_once_and_read_back(tmp_path: Path) -> None:
    db = Database(tmp_path / "node.db")
    try:
        first, second = b'{"serial": 1}' * 1000, b'{"serial": 2}' * 1000
        for serial, document in ((1, first), (2, second)):
            db.run_sync(
                lambda c, s=serial, d=document: directory_cache.save(
                    c, me="ES-CNA", serial=s, document=d, now=NOW
                )
            )
        held = db.run_sync(directory_cache.load)
        assert held is not None and (held.serial, held.document) == (2, second)
        assert db.run_sync(directory_cache.held_document) == second
        # both versions kept for good, each once
        assert db.run_sync(stored_bytes) == len(first) + len(second)
        assert [h.document for h in db.run_sync(directory_cache.history)] == [first, second]
    finally:
        db.close()


def test_migration_26_keeps_the_held_document_and_its_floor(tmp_path: Path) -> None:
    """A database of version 24 (the document in both tables, or, older than the
    history, only in the state) moves over without losing a document or the floor."""
    for in_history in (True, False):
        path = tmp_path / f"old-{in_history}.db"
        conn = sqlite3.connect(path, isolation_level=None)
        with transaction(conn):
            conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
            for number, statements in enumerate(MIGRATIONS[:24], start=1):
                for statement in statements:
                    conn.execute(statement)
                conn.execute("INSERT INTO schema_version (version) VALUES (?)", (number,))
            conn.execute(
                "INSERT INTO directory_state (id, serial, document, loaded_at)"
                " VALUES (1, 7, ?, '2026-12-01T00:00:00.000000Z')",
                (b"document 7",),
            )
            if in_history:
                conn.execute(
                    "INSERT INTO directory_history VALUES (7, ?, '2026-12-01T00:00:00.000000Z')",
                    (b"document 7",),
                )
        assert migrate(conn) == len(MIGRATIONS) >= 26
        held = directory_cache.load(conn)
        conn.close()
        assert held is not None and (held.serial, held.document) == (7, b"document 7")
