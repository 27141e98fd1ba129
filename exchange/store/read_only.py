"""A database job that only reads: ``db.run(ReadOnly(fn))``.

On SQLite it is an ordinary job (one writer, reads are cheap inside its group). On
PostgreSQL (``pg.PgDatabase``) it runs outside the group's write transaction, with
each statement its own snapshot, so it never holds the write lock every write
transaction takes: a session looked up or the outbox scanned by one process no longer
waits for, or delays, another's writes. Only for a job whose statements need no common
snapshot (one SELECT, or SELECTs of disjoint rows).
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
