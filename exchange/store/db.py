"""The node's SQLite database: one connection, one job at a time, in order, off the
event loop on the process's database threads (``lanes.Lane``; datasette's one-writer
pattern), so writes never race. Each state change is one ``BEGIN IMMEDIATE``
transaction that also appends its audit entry. WAL with ``synchronous=FULL``: a commit
has reached the disk before the call returns, so it survives a power cut."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import sqlite3
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

import sqlite_utils

from .faults import require_sqlite, storage_error
from .lanes import Lane
from .read_only import ReadOnly
from .schema import MIGRATIONS
from .transactions import FRESH as _FRESH
from .transactions import transaction as transaction  # the store imports it from here
from .write_watch import WriteWatch

T = TypeVar("T")
MAX_GROUP = 256
CACHE_KIB = 512  # SQLite page cache per connection


class WriteClaim(Protocol):
    """Something to record in the first transaction that changes the database (an
    Idempotency-Key, store/idempotency.py): in it, so both commit or neither does."""

    bound: bool

    def mark(self, conn: sqlite3.Connection) -> int:
        """Where the log stands before the job runs (handed back to ``bind``)."""

    def bind(self, conn: sqlite3.Connection, mark: int) -> None:
        """Record the claim, inside the job's transaction."""


# The claim of the HTTP request being served (set by its task, read by ``run``).
WRITE_CLAIM: ContextVar[WriteClaim | None] = ContextVar("write_claim", default=None)


def create_private(path: Path) -> None:
    """Create the database file empty and 0600 (an empty file is an empty database)
    unless it exists. SQLite gives the ``-wal`` and ``-shm`` files it creates the mode of
    the database file, so they are owner-only too, whatever the process umask."""
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


class Database:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._executor = Lane()  # one job at a time, on the process's database threads
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self._pending: deque[tuple[Callable[[sqlite3.Connection], Any], _Reply]] = deque()
        self._draining = False
        # rows this connection changed as of its last job group (database thread only)
        self.writes = 0
        self.watch = WriteWatch()  # who waits for that count to move
        self._executor.submit(self._open).result()

    def _open(self) -> None:
        require_sqlite(sqlite3.sqlite_version_info)
        create_private(self.path)
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        db = sqlite_utils.Database(conn)
        db.enable_wal()
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA busy_timeout=5000")
        # SQLite's page cache below its 2 MB default (the OS caches the file): 1,000
        # benchmark nodes each kept the directory they stored (twice, ~1 MB each) in it
        conn.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
        # Deleted and overwritten content is zeroed in the file (and in the WAL frames
        # that carry the page), not left in free pages: erasure must not depend on
        # how this machine's SQLite was built.
        conn.execute("PRAGMA secure_delete=ON")
        self._conn = conn
        migrate(conn)

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError("database is closed")
        return self._conn

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn(conn)`` on the database thread; return once its writes are durable."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        claim = WRITE_CLAIM.get()
        if claim is not None and not claim.bound and not isinstance(fn, ReadOnly):
            fn = _Claiming(fn, claim)  # (a read-only job changes nothing to claim)
        self._enqueue(fn, _LoopReply(loop, future))
        return await future

    async def run_batched(self, batch: Batch[Item, T], item: Item) -> T:
        """``batch(conn, [item])[0]``; but items of the same ``batch`` (the same object)
        that queue up together run in one call, ``batch(conn, items)``.

        ``batch`` returns one result per item, in order: a value, or an exception for
        that item alone. Should the merged call raise, it is rolled back and each item
        runs again on its own, in its own savepoint, so one bad item fails alone.
        """
        return await self.run(_Batched(batch, item))

    def run_sync(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Same as ``run`` for synchronous callers (CLI commands)."""
        reply = _SyncReply()
        self._enqueue(fn, reply)
        return reply.future.result()  # type: ignore[no-any-return]

    def run_outside_transaction(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """``fn(conn)`` on the database thread between groups, never inside a
        transaction (a WAL checkpoint cannot truncate the WAL from inside one)."""

        def job() -> T:
            try:
                return fn(self.conn)
            finally:
                self._count_writes()

        return self._executor.submit(job).result()

    # Group commit: jobs that queue up while the thread is busy run together in one
    # transaction, each writer inside its own savepoint (a failing job is rolled back
    # alone), and nobody hears back before the COMMIT has reached the disk. One fsync
    # is then shared by many requests, without weakening durability. Read-only jobs
    # (``ReadOnly``) need no savepoint, nor the group at all when no writer precedes
    # or follows them. The group's outcomes reach each event loop in one call (one
    # wake-up, not one per job).

    def _enqueue(self, fn: Callable[[sqlite3.Connection], Any], reply: _Reply) -> None:
        with self._lock:
            self._pending.append((fn, reply))
            if self._draining:
                return
            self._draining = True
        self._executor.post(self._drain)

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
                jobs = _merge([(fn, reply) for fn, reply in popped if reply.start()])
                outcomes = self._run_jobs(jobs)
                self._count_writes()  # before anyone hears back
                _settle(outcomes)
        except BaseException:
            # Never leave the queue without a drainer: the next job starts one again.
            with self._lock:
                self._draining = False
            raise

    def _count_writes(self) -> None:
        if self._conn is not None:
            self.writes = self._conn.total_changes
            self.watch.advance(self.writes)

    def _run_jobs(
        self, jobs: list[tuple[Callable[[sqlite3.Connection], Any], _Reply]]
    ) -> list[_Outcome]:
        """The jobs in order: the read-only ones before the first writer and after the
        last each alone (no transaction to begin, commit or undo for them: run in the
        group's, they would read the same rows), the writers between in one group."""
        first = next((n for n, (fn, _) in enumerate(jobs) if not isinstance(fn, ReadOnly)), None)
        if first is None:
            return [self._run_alone(*job) for job in jobs]
        last = max(n for n, (fn, _) in enumerate(jobs) if not isinstance(fn, ReadOnly))
        middle = jobs[first : last + 1]
        outcomes = [self._run_alone(*job) for job in jobs[:first]]
        if len(middle) == 1:
            outcomes.append(self._run_alone(*middle[0]))
        else:
            outcomes += self._run_group(middle)
        return outcomes + [self._run_alone(*job) for job in jobs[last + 1 :]]

    def _run_alone(self, fn: Callable[[sqlite3.Connection], Any], reply: _Reply) -> _Outcome:
        try:
            return reply, fn(self.conn), None
        except BaseException as exc:
            return reply, None, storage_error(exc)

    def _run_group(
        self, jobs: list[tuple[Callable[[sqlite3.Connection], Any], _Reply]]
    ) -> list[_Outcome]:
        conn = self.conn
        outcomes: list[_Outcome] = []
        done = 0  # jobs that ran (their work is lost if the group is rolled back)
        try:
            conn.execute("BEGIN IMMEDIATE")
            for fn, reply in jobs:
                done += 1
                # A read-only job has nothing to undo. A writer's savepoint is left
                # open (COMMIT releases them all; the next job's nests in it, and
                # ROLLBACK TO names the newest): no RELEASE per job.
                writer = not isinstance(fn, ReadOnly)
                if writer:
                    conn.execute("SAVEPOINT job")
                    _FRESH.take(conn)
                try:
                    value = fn(conn)
                except Exception as exc:
                    if not conn.in_transaction:
                        raise  # SQLite rolled the whole group back (a full disk)
                    if writer:
                        conn.execute("ROLLBACK TO job")
                    outcomes.append((reply, None, storage_error(exc)))
                else:
                    outcomes.append((reply, value, None))
                finally:
                    _FRESH.conn = None
            conn.execute("COMMIT")
        except BaseException as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            done = done or len(jobs)  # BEGIN itself failed: no job can run now
            failed: list[_Outcome] = [(reply, None, storage_error(exc)) for _, reply in jobs[:done]]
            # Jobs that had not run yet were not part of the failure: they run now,
            # in a transaction of their own (a PRAGMA that frees space must not fail
            # because the job before it hit the full disk).
            return failed + self._run_jobs(jobs[done:])
        return outcomes

    def close(self) -> None:
        def _close() -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

        self._executor.submit(_close).result()
        self._executor.shutdown()


class _LoopReply:
    """A job's outcome for a coroutine: an asyncio future, set on its own loop."""

    __slots__ = ("future", "loop")

    def __init__(self, loop: asyncio.AbstractEventLoop, future: asyncio.Future[Any]) -> None:
        self.loop, self.future = loop, future

    def start(self) -> bool:
        return not self.future.cancelled()


class _SyncReply:
    """A job's outcome for a blocking caller (``run_sync``)."""

    __slots__ = ("future",)

    def __init__(self) -> None:
        self.future: Future[Any] = Future()

    def start(self) -> bool:
        return self.future.set_running_or_notify_cancel()


class _ManyReply:
    """The replies of items merged into one batched call."""

    __slots__ = ("replies",)

    def __init__(self, replies: list[_Reply]) -> None:
        self.replies = replies

    def start(self) -> bool:
        return True  # each item's reply was started before the merge


_Reply = _LoopReply | _SyncReply | _ManyReply
_Outcome = tuple[_Reply, Any, BaseException | None]
Item = TypeVar("Item")
Batch = Callable[[sqlite3.Connection, list[Item]], list[T | BaseException]]


class _Batched(Generic[Item, T]):
    """One item of a batch, runnable as an ordinary job when it has no company."""

    __slots__ = ("batch", "item")

    def __init__(self, batch: Batch[Item, T], item: Item) -> None:
        self.batch, self.item = batch, item

    def __call__(self, conn: sqlite3.Connection) -> T:
        (result,) = self.batch(conn, [self.item])
        if isinstance(result, BaseException):
            raise result
        return result


class _Claiming(Generic[T]):
    """A job of a request holding a claim not yet bound: run in one transaction (a
    savepoint inside a group) with the claim recorded if the job changed anything, so
    that a crash after the commit cannot leave the change without its claim."""

    __slots__ = ("claim", "fn")

    def __init__(self, fn: Callable[[sqlite3.Connection], T], claim: WriteClaim) -> None:
        self.fn, self.claim = fn, claim

    def __call__(self, conn: sqlite3.Connection) -> T:
        if self.claim.bound:  # an earlier job of the same request bound it
            return self.fn(conn)
        with transaction(conn):
            before, mark = conn.total_changes, self.claim.mark(conn)
            value = self.fn(conn)
            changed = conn.total_changes != before
            if changed:
                self.claim.bind(conn, mark)
        self.claim.bound = self.claim.bound or changed
        return value


def _merge(
    jobs: list[tuple[Callable[[sqlite3.Connection], Any], _Reply]],
) -> list[tuple[Callable[[sqlite3.Connection], Any], _Reply]]:
    """Items of the same batch in a group become one job, where the first of them was."""
    together: dict[int, list[tuple[_Batched[Any, Any], _Reply]]] = {}
    for fn, reply in jobs:
        if isinstance(fn, _Batched):
            together.setdefault(id(fn.batch), []).append((fn, reply))
    if all(len(items) < 2 for items in together.values()):
        return jobs
    merged: list[tuple[Callable[[sqlite3.Connection], Any], _Reply]] = []
    for fn, reply in jobs:
        items = together.get(id(fn.batch)) if isinstance(fn, _Batched) else None
        if items is None or len(items) < 2:
            merged.append((fn, reply))
        elif items[0][0] is fn:
            batch = fn.batch
            run = functools.partial(_run_batch, batch, [f.item for f, _ in items])
            merged.append((run, _ManyReply([r for _, r in items])))
    return merged


def _run_batch(batch: Batch[Any, Any], items: list[Any], conn: sqlite3.Connection) -> list[Any]:
    """All items in one call; if it raises, each on its own (one bad item fails alone)."""
    _FRESH.conn = None  # its savepoints, not the job's, are the newest from here
    conn.execute("SAVEPOINT batch")
    try:
        results = batch(conn, items)
        if len(results) != len(items):
            raise RuntimeError("a batch function must return one result per item")
    except Exception:
        if not conn.in_transaction:
            raise  # SQLite rolled the whole group back (a full disk)
        conn.execute("ROLLBACK TO batch")
        conn.execute("RELEASE batch")
    else:
        conn.execute("RELEASE batch")
        return results
    alone: list[Any] = []
    for item in items:
        conn.execute("SAVEPOINT one")
        try:
            alone.append(_Batched(batch, item)(conn))
        except Exception as exc:
            if not conn.in_transaction:
                raise
            conn.execute("ROLLBACK TO one")
            alone.append(storage_error(exc))
        conn.execute("RELEASE one")
    return alone


def _settle(outcomes: list[_Outcome]) -> None:
    """Hand outcomes back: blocking callers at once, each event loop in one call."""
    by_loop: dict[asyncio.AbstractEventLoop, list[_Outcome]] = {}
    for outcome in _expand(outcomes):
        reply, value, error = outcome
        if isinstance(reply, _ManyReply):
            continue  # expanded above
        if isinstance(reply, _SyncReply):
            if error is None:
                reply.future.set_result(value)
            else:
                reply.future.set_exception(error)
        else:
            by_loop.setdefault(reply.loop, []).append(outcome)
    for loop, items in by_loop.items():
        with contextlib.suppress(RuntimeError):  # that loop has closed: nobody waits
            loop.call_soon_threadsafe(_resolve, items)


def _expand(outcomes: list[_Outcome]) -> list[_Outcome]:
    """A merged batch's outcome as one outcome per item."""
    expanded: list[_Outcome] = []
    for reply, value, error in outcomes:
        if not isinstance(reply, _ManyReply):
            expanded.append((reply, value, error))
        elif error is not None:
            expanded += [(one, None, error) for one in reply.replies]
        else:
            for one, result in zip(reply.replies, value, strict=True):
                if isinstance(result, BaseException):
                    expanded.append((one, None, storage_error(result)))
                else:
                    expanded.append((one, result, None))
    return expanded


def _resolve(items: list[_Outcome]) -> None:
    for reply, value, error in items:
        assert isinstance(reply, _LoopReply)
        future = reply.future
        if future.done():
            continue  # the caller gave up meanwhile
        if error is None:
            future.set_result(value)
        else:
            future.set_exception(error)


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
