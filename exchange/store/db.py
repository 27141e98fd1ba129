"""The node's SQLite database: one connection, one writer thread.

Every read and write runs on a single dedicated thread (datasette's
pattern), so the event loop never blocks on disk and writes never race.
Each state change is one ``BEGIN IMMEDIATE`` transaction that also appends
its audit entry. WAL journal with ``synchronous=FULL``: a commit has
reached the disk before the call returns, so it survives a power cut.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import sqlite_utils

from ..core.errors import StorageUnavailable
from .schema import MIGRATIONS

T = TypeVar("T")
MAX_GROUP = 256


class Database:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite")
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self._pending: deque[tuple[Callable[[sqlite3.Connection], Any], Future[Any]]] = deque()
        self._draining = False
        self._executor.submit(self._open).result()

    def _open(self) -> None:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        db = sqlite_utils.Database(conn)
        db.enable_wal()
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA busy_timeout=5000")
        self._conn = conn
        migrate(conn)

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError("database is closed")
        return self._conn

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn(conn)`` on the database thread; return once its writes are durable."""
        future: Future[T] = Future()
        self._enqueue(fn, future)
        return await asyncio.wrap_future(future)

    def run_sync(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Same as ``run`` for synchronous callers (CLI commands)."""
        future: Future[T] = Future()
        self._enqueue(fn, future)
        return future.result()

    # Group commit: jobs that queue up while the thread is busy run together in one
    # transaction, each inside its own savepoint (a failing job is rolled back alone),
    # and nobody hears back before the COMMIT has reached the disk. One fsync is then
    # shared by many requests, without weakening durability.

    def _enqueue(self, fn: Callable[[sqlite3.Connection], Any], future: Future[Any]) -> None:
        with self._lock:
            self._pending.append((fn, future))
            if self._draining:
                return
            self._draining = True
        self._executor.submit(self._drain)

    def _drain(self) -> None:
        try:
            while True:
                with self._lock:
                    if not self._pending:
                        self._draining = False
                        return
                    count = min(len(self._pending), MAX_GROUP)
                    popped = [self._pending.popleft() for _ in range(count)]
                # A caller cancelled before its job started (a peer that hung up
                # mid-call) is skipped; from here on the others cannot be cancelled.
                jobs = [(fn, f) for fn, f in popped if f.set_running_or_notify_cancel()]
                if len(jobs) == 1:
                    self._run_alone(*jobs[0])
                elif jobs:
                    self._run_group(jobs)
        except BaseException:
            # Never leave the queue without a drainer: the next job starts one again.
            with self._lock:
                self._draining = False
            raise

    def _run_alone(self, fn: Callable[[sqlite3.Connection], Any], future: Future[Any]) -> None:
        try:
            value = fn(self.conn)
        except BaseException as exc:
            future.set_exception(storage_error(exc))
        else:
            future.set_result(value)

    def _run_group(
        self, jobs: list[tuple[Callable[[sqlite3.Connection], Any], Future[Any]]]
    ) -> None:
        conn = self.conn
        outcomes: list[tuple[Future[Any], Any, BaseException | None]] = []
        done = 0  # jobs that ran (their work is lost if the group is rolled back)
        try:
            conn.execute("BEGIN IMMEDIATE")
            for fn, future in jobs:
                done += 1
                conn.execute("SAVEPOINT job")
                try:
                    value = fn(conn)
                except Exception as exc:
                    if not conn.in_transaction:
                        raise  # SQLite rolled the whole group back (a full disk)
                    conn.execute("ROLLBACK TO job")
                    conn.execute("RELEASE job")
                    outcomes.append((future, None, storage_error(exc)))
                else:
                    conn.execute("RELEASE job")
                    outcomes.append((future, value, None))
            conn.execute("COMMIT")
        except BaseException as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            done = done or len(jobs)  # BEGIN itself failed: no job can run now
            for _, future in jobs[:done]:
                future.set_exception(storage_error(exc))
            # Jobs that had not run yet were not part of the failure: they run now,
            # in a transaction of their own (a PRAGMA that frees space must not fail
            # because the job before it hit the full disk).
            rest = jobs[done:]
            if len(rest) == 1:
                self._run_alone(*rest[0])
            elif rest:
                self._run_group(rest)
            return
        for future, value, error in outcomes:
            if error is None:
                future.set_result(value)
            else:
                future.set_exception(error)

    def close(self) -> None:
        def _close() -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

        self._executor.submit(_close).result()
        self._executor.shutdown(wait=True)


_STORAGE_FAULTS = ("database or disk is full", "readonly database", "disk i/o error")


def storage_error(exc: BaseException) -> BaseException:
    """A full disk or a read-only database becomes a clear, retryable refusal."""
    if isinstance(exc, sqlite3.OperationalError) and any(
        fault in str(exc).lower() for fault in _STORAGE_FAULTS
    ):
        refused = StorageUnavailable("the node cannot write to its storage now: try again later")
        refused.__cause__ = exc
        return refused
    return exc


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``; rolled back on any exception.

    Inside a transaction already (a group commit) it is a savepoint instead: all or
    nothing of it, committed with the group.
    """
    # SQLite may roll a transaction back by itself (a full disk): then there is
    # nothing left to undo, and the original error is the one to report.
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


def migrate(conn: sqlite3.Connection) -> int:
    """Apply numbered migrations not yet applied; returns the schema version."""
    conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
    row = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
    version = row[0] or 0
    for number, statements in enumerate(MIGRATIONS, start=1):
        if number <= version:
            continue
        with transaction(conn):
            for statement in statements:
                conn.execute(statement)
            conn.execute("INSERT INTO schema_version (version) VALUES (?)", (number,))
        version = number
    return int(version)


def row_dict(cursor: sqlite3.Cursor, row: tuple[Any, ...]) -> dict[str, Any]:
    return {col[0]: value for col, value in zip(cursor.description, row, strict=True)}


def fetch_all(
    conn: sqlite3.Connection, sql: str, params: tuple[Any, ...] = ()
) -> list[dict[str, Any]]:
    cursor = conn.execute(sql, params)
    return [row_dict(cursor, row) for row in cursor.fetchall()]


def fetch_one(
    conn: sqlite3.Connection, sql: str, params: tuple[Any, ...] = ()
) -> dict[str, Any] | None:
    cursor = conn.execute(sql, params)
    row = cursor.fetchone()
    return row_dict(cursor, row) if row is not None else None
