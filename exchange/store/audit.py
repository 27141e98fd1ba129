"""The audit log's storage: entries and the Merkle tree's perfect subtrees.

``append`` runs inside the caller's transaction, so an action and its
entry commit together or not at all. It stores the entry and its leaf hash
(two statements). The hashes of the perfect subtrees above the leaves are
derived data: ``tree`` completes them in one batch, level by level, before
anything reads the tree (a checkpoint, a proof). Roots and proofs then need
O(log n) lookups (see ``exchange.core.merkle``).

Building the upper levels per append cost three more statements and a
hash walk for every entry, at four entries per request on a sending node;
in a batch it is a few range reads and one ``executemany`` per level.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from ..core.audit_entry import encode_entry
from ..core.merkle import leaf_hash, node_hash
from .db import transaction


def append(
    conn: sqlite3.Connection,
    *,
    at: datetime,
    authority: str,
    action: str,
    actor: str,
    **fields: Any,
) -> int:
    """Append one entry; must be called inside a transaction. Returns its index."""
    if not conn.in_transaction:
        raise RuntimeError("audit entries are appended inside the action's transaction")
    entry = encode_entry(at=at, authority=authority, action=action, actor=actor, fields=fields)
    (index,) = conn.execute(
        "INSERT INTO audit_entries (idx, entry)"
        " SELECT COALESCE(MAX(idx) + 1, 0), ? FROM audit_entries RETURNING idx",
        (entry,),
    ).fetchone()
    conn.execute(
        "INSERT INTO audit_nodes (level, idx, hash) VALUES (0, ?, ?)", (index, leaf_hash(entry))
    )
    return int(index)


def append_all(conn: sqlite3.Connection, entries: Sequence[bytes], chunk: int = 500) -> int:
    """Append encoded entries (``encode_entry``) in order, inside the caller's
    transaction, with one multi-row INSERT per table per chunk; returns the first index.

    For a batch (a transaction's receipts): two statements instead of two per entry.
    The entries' INSERT numbers them after the log's last entry itself and returns
    their indexes (no read of the log's size first: a statement fewer a transaction).
    """
    if not conn.in_transaction:
        raise RuntimeError("audit entries are appended inside the action's transaction")
    first: int | None = None
    for start in range(0, len(entries), chunk):
        part = entries[start : start + chunk]
        numbered = ",".join([f"({k}, ?)" for k in range(len(part))])
        stored = conn.execute(_INSERT_NEXT.format(numbered), part).fetchall()
        if len(stored) != len(part):
            raise RuntimeError("audit entries were not all appended")
        at = min(index for (index,) in stored)
        first = at if first is None else first
        leaves: list[Any] = []
        for index, entry in enumerate(part, start=at):
            leaves += (index, leaf_hash(entry))
        conn.execute(_INSERT_LEAVES + ",".join(["(0, ?, ?)"] * len(part)), leaves)
    return size(conn) if first is None else first


# each entry's index: the log's size before the statement plus its place in the batch
# (the subquery does not depend on the row: computed once, before any row is added)
_INSERT_NEXT = (
    "INSERT INTO audit_entries (idx, entry)"
    " SELECT (SELECT COALESCE(MAX(idx) + 1, 0) FROM audit_entries) + v.column1, v.column2"
    " FROM (VALUES {}) AS v ORDER BY v.column1 RETURNING idx"
)
_INSERT_LEAVES = "INSERT INTO audit_nodes (level, idx, hash) VALUES "


def size(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT COALESCE(MAX(idx) + 1, 0) FROM audit_entries").fetchone()
    return int(row[0])


def tree(conn: sqlite3.Connection) -> SqliteHashStore:
    """The log's hash store, its upper levels completed first (in one savepoint)."""
    with transaction(conn):
        complete_levels(conn)
    return SqliteHashStore(conn)


def complete_levels(conn: sqlite3.Connection, chunk: int = 65_536, limit: int | None = None) -> int:
    """Store the perfect subtrees above the leaves not stored yet; returns how many.

    Level by level: the missing nodes of a level are the pairs of the level below
    not combined yet, read in index order, hashed, and inserted with one
    ``executemany`` per chunk. With ``limit``, at most that many (the rest next time:
    each level stays gap-free from index 0).
    """
    added = 0
    level = 0
    while True:
        below = _count(conn, level)
        have = _count(conn, level + 1)
        want = below // 2
        if want == 0:
            return added
        for start in range(have, want, chunk):
            stop = min(start + chunk, want)
            if limit is not None:
                stop = min(stop, start + limit - added)
                if stop <= start:
                    return added
            rows = conn.execute(
                "SELECT idx, hash FROM audit_nodes WHERE level = ? AND idx >= ? AND idx < ?"
                " ORDER BY idx",
                (level, 2 * start, 2 * stop),
            ).fetchall()
            if len(rows) != 2 * (stop - start):
                raise RuntimeError(f"audit tree level {level} has gaps below index {2 * stop}")
            conn.executemany(
                "INSERT INTO audit_nodes (level, idx, hash) VALUES (?, ?, ?)",
                [
                    (level + 1, start + k, node_hash(rows[2 * k][1], rows[2 * k + 1][1]))
                    for k in range(stop - start)
                ],
            )
            added += stop - start
        level += 1


def extend_tree(conn: sqlite3.Connection, limit: int) -> int:
    """At most ``limit`` new tree nodes, in one savepoint (a short database job)."""
    with transaction(conn):
        return complete_levels(conn, limit=limit)


def _count(conn: sqlite3.Connection, level: int) -> int:
    """Nodes stored at ``level`` (they are stored without gaps from index 0)."""
    row = conn.execute(
        "SELECT COALESCE(MAX(idx) + 1, 0) FROM audit_nodes WHERE level = ?", (level,)
    ).fetchone()
    return int(row[0])


def node(conn: sqlite3.Connection, level: int, index: int) -> bytes:
    row = conn.execute(
        "SELECT hash FROM audit_nodes WHERE level = ? AND idx = ?", (level, index)
    ).fetchone()
    if row is None:
        raise KeyError((level, index))
    return bytes(row[0])


def entries(conn: sqlite3.Connection, start: int, end: int) -> list[tuple[int, bytes]]:
    rows = conn.execute(
        "SELECT idx, entry FROM audit_entries WHERE idx >= ? AND idx < ? ORDER BY idx",
        (start, end),
    ).fetchall()
    return [(int(i), bytes(e)) for i, e in rows]


class SqliteHashStore:
    """``exchange.core.merkle.HashStore`` over ``audit_nodes`` (for roots and proofs)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    @property
    def size(self) -> int:
        return size(self._conn)

    def get(self, level: int, index: int) -> bytes:
        return node(self._conn, level, index)


def entries_without_leaves(
    conn: sqlite3.Connection, chunk: int = 65_536
) -> Iterator[tuple[int, bytes, bytes | None]]:
    """Every entry in index order (the fast pass of ``audit verify``)."""
    entries = conn.execute("SELECT idx, entry FROM audit_entries ORDER BY idx")
    while rows := entries.fetchmany(chunk):
        yield from [(i, e, None) for i, e in rows]


def entries_with_leaves(
    conn: sqlite3.Connection, chunk: int = 65_536
) -> Iterator[tuple[int, bytes, bytes | None]]:
    """Every entry in index order with the leaf hash stored at append time (or None).

    Two ordered scans read in step; a lookup per row only where they disagree.
    """
    entries = conn.execute("SELECT idx, entry FROM audit_entries ORDER BY idx")
    leaves = conn.execute("SELECT idx, hash FROM audit_nodes WHERE level = 0 ORDER BY idx")
    while rows := entries.fetchmany(chunk):
        stored = leaves.fetchmany(len(rows))
        if len(stored) == len(rows) and stored[0][0] == rows[0][0] and stored[-1][0] == rows[-1][0]:
            yield from [(i, e, h) for (i, e), (_, h) in zip(rows, stored, strict=True)]
            continue
        # out of step (rows deleted or inserted somewhere): look each leaf up
        leaves = conn.execute(
            "SELECT idx, hash FROM audit_nodes WHERE level = 0 AND idx > ? ORDER BY idx",
            (rows[-1][0],),
        )
        for i, e in rows:
            row = conn.execute(
                "SELECT hash FROM audit_nodes WHERE level = 0 AND idx = ?", (i,)
            ).fetchone()
            yield i, e, row[0] if row else None
