"""The storage engine under test: SQLite files, or with ``EXCHANGE_TEST_STORAGE=
postgresql`` a fresh database of the session's PostgreSQL cluster for each one."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import cast

from exchange.config import load_config
from exchange.store.db import Database, migrate
from exchange.store.engine import open_database, open_storage

from .postgres import cluster, on_postgresql


def storage_url() -> str | None:
    """A fresh PostgreSQL database's URL when the suite runs on PostgreSQL, else None."""
    return cluster().database() if on_postgresql() else None


def connect(path: Path) -> sqlite3.Connection:
    """A migrated connection (autocommit, as the database thread's) to a fresh database."""
    url = storage_url()
    if url is None:
        conn = sqlite3.connect(path, isolation_level=None)
        migrate(conn)
        return conn
    from exchange.store.pg import PgConnection, migrate_pg

    pg = PgConnection(url)
    migrate_pg(pg)
    return cast(sqlite3.Connection, pg)


def database(path: Path) -> Database:
    """A ``Database`` on a fresh database of the engine under test."""
    return open_storage(storage_url(), path)


def raw_connection(data: Path) -> sqlite3.Connection:
    """A plain connection to a node's storage, as its data folder's node.toml names it
    (what an insider tampering with the database would use; autocommit)."""
    url = load_config(data / "node.toml").storage_url
    if url is None:
        return sqlite3.connect(data / "exchange.db")
    from exchange.store.pg import PgConnection

    return cast(sqlite3.Connection, PgConnection(url))


def node_database(data: Path) -> Database:
    """A node's ``Database``, as its data folder's node.toml names it."""
    return open_database(load_config(data / "node.toml"))
