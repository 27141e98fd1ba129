"""The one way to open a node's storage: SQLite (the default) or PostgreSQL.

``[storage] url`` in node.toml chooses PostgreSQL (``store/pg.py``); without it the
node keeps ``exchange.db`` in its data folder (``store/db.py``). Both are the same
``Database``: every store function runs unchanged on either.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import cast

from ..config import NodeConfig
from .db import Database
from .snapshots import open_read_only

# A constraint refused a write, on either engine (PostgreSQL's is a subclass).
IntegrityError = sqlite3.IntegrityError


def open_database(config: NodeConfig) -> Database:
    """The node's database, migrated and ready."""
    return open_storage(config.storage_url, config.database)


def open_storage(url: str | None, path: Path) -> Database:
    """PostgreSQL at ``url`` when given, else the SQLite file at ``path``."""
    if url is None:
        return Database(path)
    from .pg import PgDatabase  # psycopg is loaded only by nodes that use it

    return PgDatabase(url)


def open_reader(config: NodeConfig) -> sqlite3.Connection:
    """A connection of its own that only reads (an auditor's check, an export, the
    search index's build), beside the node's database thread."""
    if config.storage_url is None:
        return open_read_only(config.database)
    from .pg import PgConnection  # psycopg is loaded only by nodes that use it

    conn = PgConnection(config.storage_url, read_only=True)
    return cast(sqlite3.Connection, conn)


def is_postgresql(db: Database) -> bool:
    return getattr(db, "url", None) is not None


def counters(db: Database) -> dict[str, float]:
    """The storage engine's own figures (PostgreSQL: round trips, write transactions
    and their time, ``PgConnection``); none for SQLite, whose writes are local."""
    counted = getattr(db, "counters", None)
    return dict(counted()) if callable(counted) else {}
