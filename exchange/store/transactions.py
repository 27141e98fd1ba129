"""``transaction``: a state change all or nothing, alone (``BEGIN IMMEDIATE``) or
inside a group commit's transaction (a savepoint); and the job savepoint a group
lends to a job's first ``transaction`` (``db.Database._run_group``)."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class _FreshSavepoint(threading.local):
    """The savepoint a group just opened for the job running on this thread, while
    that job has changed nothing in it (its connection and ``total_changes`` then)."""

    conn: sqlite3.Connection | None = None
    changes = 0

    def take(self, conn: sqlite3.Connection) -> None:
        self.conn, self.changes = conn, conn.total_changes

    def adopt(self, conn: sqlite3.Connection) -> bool:
        """Whether the job's first ``transaction`` may use that savepoint as its own:
        undoing to it undoes the same as to a savepoint of its own would (nothing was
        written between). Its later ones open their own."""
        if self.conn is not conn:
            return False
        self.conn = None
        return conn.total_changes == self.changes


FRESH = _FreshSavepoint()


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``; rolled back on any exception.

    Inside a transaction already (a group commit) it is a savepoint instead: all or
    nothing of it, committed with the group. The first one of a job in a group, before
    the job wrote anything, is the job's own savepoint (two statements fewer).
    """
    # SQLite may roll a transaction back by itself (a full disk): then there is
    # nothing left to undo, and the original error is the one to report.
    if FRESH.adopt(conn):
        try:
            yield conn
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK TO job")
            raise
        return
    if conn.in_transaction:
        conn.execute("SAVEPOINT nested")
        try:
            yield conn
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK TO nested")
                conn.execute("RELEASE nested")
            raise
        conn.execute("RELEASE nested")
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    try:
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
