"""The storage engine under test: SQLite files, or with ``EXCHANGE_TEST_STORAGE=
postgresql`` a fresh database of the session's PostgreSQL cluster for each one.

Tests reach a node's storage only through these helpers, so the same test runs on
both engines; what is SQLite's own (its files' pages, PRAGMAs, its backup and its WAL)
is marked ``sqlite_only`` with the reason, and the PostgreSQL counterpart named.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import pytest

from exchange.config import load_config
from exchange.store.db import Database, migrate
from exchange.store.engine import open_database, open_storage

from .postgres import cluster, on_postgresql


def sqlite_only(reason: str) -> pytest.MarkDecorator:
    """Skip on PostgreSQL what is SQLite's own; ``reason`` says what, and which test
    keeps the promise on PostgreSQL where it has one there."""
    return pytest.mark.skipif(on_postgresql(), reason=f"SQLite's own: {reason}")


# SQLite's own, in several tests: its backup and restore.
sqlite_backup = sqlite_only(
    "exchange backup and restore copy SQLite files; on PostgreSQL they refuse and name"
    " pg_dump/pg_restore (test_postgres_storage.py::"
    "test_backup_and_restore_refuse_a_postgresql_node)"
)


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


def raw_connection(data: Path, *, read_only: bool = False) -> sqlite3.Connection:
    """A plain connection to a node's storage, as its data folder's node.toml names it
    (what an insider tampering with the database would use; ``with conn:`` commits).
    ``read_only`` refuses writes, beside a running node or a killed one's leftovers."""
    url = load_config(data / "node.toml").storage_url
    if url is None:
        path = data / "exchange.db"
        if read_only:
            return sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
        return sqlite3.connect(path, timeout=10)
    from exchange.store.pg import PgConnection

    return cast(sqlite3.Connection, PgConnection(url, read_only=read_only))


def rows(data: Path, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """The rows of one read of a node's storage, on a connection of its own."""
    conn = raw_connection(data, read_only=True)
    try:
        return [tuple(row) for row in conn.execute(sql, params).fetchall()]
    finally:
        conn.close()


def node_database(data: Path) -> Database:
    """A node's ``Database``, as its data folder's node.toml names it."""
    return open_database(load_config(data / "node.toml"))


def stored_bytes(data: Path) -> bytes:
    """What a node keeps, as one byte string to search for text that must not be there.

    SQLite: every byte of its files, the WAL included (free pages too). PostgreSQL: every
    value of every live row of every table, as stored (bytes as they are, text in UTF-8);
    dead row versions are the retention pass's VACUUM's to prune, tested on the pages
    themselves (tests/adversarial/test_postgres_storage.py)."""
    url = load_config(data / "node.toml").storage_url
    if url is None:
        files = sorted(data.glob("exchange.db*"))
        assert files, f"no database files in {data}"
        return b"".join(f.read_bytes() for f in files)
    import psycopg

    found: list[bytes] = []
    with psycopg.connect(url, autocommit=True) as conn:
        tables = [r[0] for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
        )]  # fmt: skip
        assert tables, f"no tables at {url}"
        for table in tables:
            for row in conn.execute(f'SELECT * FROM "{table}"'):  # noqa: S608 (catalogue names)
                found.extend(_as_bytes(value) for value in row)
    return b"\n".join(found)


def _as_bytes(value: object) -> bytes:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    return b"" if value is None else str(value).encode()


def copy_tables(data: Path, target: Path, tables: Sequence[str]) -> None:
    """An insider's copy of some of a node's tables, as an SQLite file at ``target``,
    from either engine (``exchange backup`` on SQLite, what ``pg_dump`` would keep of
    these tables on PostgreSQL): their rows and bytes, as stored."""
    if load_config(data / "node.toml").storage_url is None:
        from exchange.ops.backup import backup

        backup(data, target)
        return
    source = raw_connection(data, read_only=True)
    copy = sqlite3.connect(target, isolation_level=None)
    try:
        for table in tables:
            cursor = source.execute(f"SELECT * FROM {table}")  # noqa: S608 (the test's names)
            names = [d[0] for d in cursor.description]
            copy.execute(f"CREATE TABLE {table} ({', '.join(names)})")
            marks = ", ".join("?" * len(names))
            copy.executemany(f"INSERT INTO {table} VALUES ({marks})", cursor.fetchall())  # noqa: S608
    finally:
        copy.close()
        source.close()


def dicts(cursor: sqlite3.Cursor) -> list[dict[str, Any]]:
    """A cursor's rows by column name, on either engine (no ``row_factory`` needed)."""
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def refuse_writes(conn: sqlite3.Connection, refused: bool) -> None:
    """Make a node's own connection refuse (or accept again) every write, as a database
    that went read-only does: SQLite's ``query_only``; on PostgreSQL the session's
    default, as a hot standby answers (``cannot execute ... in a read-only transaction``)."""
    if isinstance(conn, sqlite3.Connection):
        conn.execute(f"PRAGMA query_only = {'ON' if refused else 'OFF'}")
        return
    conn.pg.execute(f"SET default_transaction_read_only = {'on' if refused else 'off'}")  # type: ignore[attr-defined]
