"""The SQL of ``exchange storage migrate`` (``ops/storage_migrate.py``): a node's SQLite
tables read in a stable order, written into PostgreSQL with ``COPY``, and read back.

Tables and columns are taken from the SQLite file itself (its ``sqlite_master`` and
``PRAGMA`` lists), never from a list kept here: a table a later migration adds is
copied without a change to this module. Every row keeps SQLite's ``rowid`` (the
PostgreSQL schema has a ``rowid`` column for it, ``store/pg_sql.py``): the store uses it
as a handle and as the order of insertion (``store/search_texts.py``). Rows are read and
written in batches: memory stays flat whatever the size of a table.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import psycopg

from ..core.errors import StorageUnavailable
from .pg import PgConnection

Row = tuple[Any, ...]
BATCH = 2_000
# Each side's own: the target is migrated to the same version by its own migrations.
NOT_COPIED = frozenset({"schema_version"})


@dataclass(frozen=True)
class Table:
    """One table as SQLite holds it."""

    name: str
    columns: tuple[str, ...]  # declared columns, in order
    rowid: bool  # SQLite gives it a rowid (all but WITHOUT ROWID tables)
    key: tuple[str, ...]  # its primary key's columns (the order of a WITHOUT ROWID table)

    @property
    def copied(self) -> tuple[str, ...]:
        """The columns written into PostgreSQL, ``rowid`` first where SQLite has one."""
        return ("rowid", *self.columns) if self.rowid else self.columns

    @property
    def order(self) -> str:
        """A total order both engines read rows in (integers, or text in byte order)."""
        return ", ".join(_quoted(c) for c in (("rowid",) if self.rowid else self.key))


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _column_list(table: Table) -> str:
    return ", ".join(_quoted(c) for c in table.copied)


def source_tables(conn: sqlite3.Connection) -> list[Table]:
    """Every table of the node's schema, parents before the tables that refer to them."""
    names = [
        str(name)
        for (name,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'"
            " AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name"
        )
        if name not in NOT_COPIED
    ]
    tables: dict[str, Table] = {}
    parents: dict[str, set[str]] = {}
    for name in names:
        info = conn.execute(f"PRAGMA table_info({_quoted(name)})").fetchall()
        key = tuple(str(c[1]) for c in sorted((c for c in info if c[5]), key=lambda c: c[5]))
        tables[name] = Table(name, tuple(str(c[1]) for c in info), _has_rowid(conn, name), key)
        refs = conn.execute(f"PRAGMA foreign_key_list({_quoted(name)})").fetchall()
        parents[name] = {str(r[2]) for r in refs if str(r[2]) != name}
    return [tables[name] for name in _parents_first(parents)]


def _has_rowid(conn: sqlite3.Connection, name: str) -> bool:
    try:
        conn.execute(f"SELECT rowid FROM {_quoted(name)} LIMIT 0")  # noqa: S608 (a table's name)
    except sqlite3.OperationalError:
        return False  # WITHOUT ROWID
    return True


def _parents_first(parents: dict[str, set[str]]) -> list[str]:
    """Topological order (ties by name); a cycle of foreign keys is refused."""
    done: list[str] = []
    left = dict(parents)
    while left:
        ready = sorted(n for n, ps in left.items() if not (ps & left.keys()))
        if not ready:
            raise ValueError(f"foreign keys form a cycle among {sorted(left)}")
        done += ready
        for name in ready:
            del left[name]
    return done


def source_version(conn: sqlite3.Connection) -> int:
    """The SQLite schema's version (0: no migration ever ran)."""
    try:
        row = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
    except sqlite3.OperationalError:
        return 0  # no schema_version table
    return int(row[0] or 0)


def target_version(pg: PgConnection) -> int | None:
    """The PostgreSQL schema's version; None where it has no schema_version table."""
    row = pg.execute(
        "SELECT COUNT(*) FROM information_schema.tables"
        " WHERE table_schema = current_schema() AND table_name = 'schema_version'"
    ).fetchone()
    if not (row and row[0]):
        return None
    row = pg.execute("SELECT MAX(version) FROM schema_version").fetchone()
    return int(row[0] or 0) if row else 0


def target_columns(pg: PgConnection) -> dict[str, tuple[str, ...]]:
    """Each table of the target's schema and its columns."""
    rows = pg.execute(
        "SELECT table_name, column_name FROM information_schema.columns"
        " WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position"
    ).fetchall()
    found: dict[str, list[str]] = {}
    for table, column in rows:
        found.setdefault(str(table), []).append(str(column))
    return {t: tuple(cs) for t, cs in found.items()}


def tables_holding_rows(pg: PgConnection, names: Iterable[str]) -> list[str]:
    """Those of ``names`` that hold at least one row."""
    held = []
    for name in names:
        row = pg.execute(f"SELECT EXISTS (SELECT 1 FROM {_quoted(name)})").fetchone()  # noqa: S608 (a table's name)
        if row is not None and row[0]:
            held.append(name)
    return held


def source_rows(conn: sqlite3.Connection, table: Table, batch: int = BATCH) -> Iterator[list[Row]]:
    """The table's rows in ``table.order``, ``batch`` at a time."""
    cursor = conn.execute(
        f"SELECT {_column_list(table)} FROM {_quoted(table.name)} ORDER BY {table.order}"  # noqa: S608 (names from the schema)
    )
    while rows := cursor.fetchmany(batch):
        yield rows


def target_rows(pg: PgConnection, table: Table, batch: int = BATCH) -> Iterator[list[Row]]:
    """The same from PostgreSQL, through a server-side cursor (inside the transaction)."""
    with pg.pg.cursor(name=f"read_{table.name}") as cursor:
        cursor.itersize = batch
        cursor.execute(
            f"SELECT {_column_list(table)} FROM {_quoted(table.name)} ORDER BY {table.order}"  # noqa: S608 (names from the schema)
        )
        while rows := cursor.fetchmany(batch):
            yield rows


def copy_into(pg: PgConnection, table: Table, batches: Iterable[list[Row]]) -> int:
    """``COPY`` the rows into the table (inside the caller's transaction); how many."""
    count = 0
    with (
        pg.pg.cursor() as cursor,
        cursor.copy(f"COPY {_quoted(table.name)} ({_column_list(table)}) FROM STDIN") as copy,
    ):
        for rows in batches:
            for row in rows:
                copy.write_row(row)
            count += len(rows)
    return count


def reset_identities(pg: PgConnection) -> list[tuple[str, str, int]]:
    """Every identity column's sequence set past the column's largest value, so that
    the node's next row does not collide with a copied one: ``(table, column, next)``."""
    columns = pg.execute(
        "SELECT table_name, column_name FROM information_schema.columns"
        " WHERE table_schema = current_schema() AND is_identity = 'YES'"
        " ORDER BY table_name, column_name"
    ).fetchall()
    done = []
    for table, column in columns:
        t, c = _quoted(str(table)), _quoted(str(column))
        row = pg.execute(
            f"SELECT setval(pg_get_serial_sequence(?, ?), COALESCE(MAX({c}), 0) + 1, false)"  # noqa: S608 (names from the catalogue)
            f" FROM {t}",
            (t, str(column)),
        ).fetchone()
        assert row is not None  # an aggregate answers one row
        done.append((str(table), str(column), int(row[0])))
    return done


def target_audit_entries(
    pg: PgConnection, batch: int = 65_536
) -> Iterator[tuple[int, bytes, None]]:
    """The audit log's entries in index order, streamed (``audit.entries_without_leaves``
    reads a query's rows at once on PostgreSQL)."""
    with pg.pg.cursor(name="read_audit_entries") as cursor:
        cursor.itersize = batch
        cursor.execute("SELECT idx, entry FROM audit_entries ORDER BY idx")
        while rows := cursor.fetchmany(batch):
            yield from ((int(i), bytes(e), None) for i, e in rows)


@contextlib.contextmanager
def snapshot(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One read transaction: every read inside sees the same state of the file."""
    conn.execute("BEGIN")
    try:
        yield conn
    finally:
        conn.execute("ROLLBACK")


@contextlib.contextmanager
def one_transaction(pg: PgConnection) -> Iterator[PgConnection]:
    """One PostgreSQL transaction holding the engine's write lock (no node process
    writes meanwhile), committed only if the block returns; rolled back otherwise (a
    lost connection has rolled it back already: nothing to do then)."""
    pg.execute("BEGIN IMMEDIATE")
    try:
        yield pg
    except BaseException:
        with contextlib.suppress(StorageUnavailable, psycopg.Error):
            if pg.in_transaction:
                pg.execute("ROLLBACK")
        raise
    pg.execute("COMMIT")
