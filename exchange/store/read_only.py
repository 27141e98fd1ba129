"""A database job that only reads: ``db.run(ReadOnly(fn))``. It must not write.

On SQLite (``db.Database._run_jobs``) it costs its own statements only: in a group of
jobs it gets no savepoint (it has nothing to undo), and the read-only jobs queued
before the group's first writer or after its last run alone, outside the group's
transaction (a group of reads begins and commits nothing; one ``due`` or ``next_due``
beside a writer cost a ``BEGIN IMMEDIATE``, a ``SAVEPOINT``, a ``RELEASE`` and a
``COMMIT``). On PostgreSQL (``pg.PgDatabase``) it runs outside the group's write
transaction, with each statement its own snapshot, so it never holds the write lock
every write transaction takes: a session looked up or the outbox scanned by one process
no longer waits for, or delays, another's writes. Only for a job whose statements need
no common snapshot (one SELECT, or SELECTs of disjoint rows).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class ReadOnly(Generic[T]):
    __slots__ = ("fn",)

    def __init__(self, fn: Callable[[sqlite3.Connection], T]) -> None:
        self.fn = fn

    def __call__(self, conn: sqlite3.Connection) -> T:
        return self.fn(conn)
