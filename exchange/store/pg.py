"""The node's PostgreSQL database: the same ``Database``, on a psycopg 3 connection.

The SQLite engine's model is kept whole: one dedicated thread, one connection, group
commit (``store/db.py``). Only the connection differs: ``PgConnection`` offers the part
of ``sqlite3.Connection`` the store uses, and runs each statement as SQLite would:

- Writers are serialised by the database, like SQLite's single writer: a write
  transaction takes ``pg_advisory_xact_lock(WRITE_LOCK)`` right after ``BEGIN``, so a
  read-then-write inside it is race-free across processes, and the audit log stays one
  sequence. A write outside a transaction runs in one of its own, with the lock.
- A failed statement aborts the whole transaction on PostgreSQL, where SQLite undoes
  the statement alone. The store continues after an error only inside ``transaction``
  (a savepoint, rolled back to), and a job's failure is rolled back to its savepoint
  (``db.Database._run_group``): the same code is right on both engines. A caught error
  continued from without one fails the transaction loudly (never half-writes it); a
  savepoint per statement would cost two round trips on every write.
- Round trips: the store waits on one per statement, and a write transaction holds
  the write lock across them. The statements whose results nobody reads (``BEGIN``
  and the lock, ``SAVEPOINT``, ``RELEASE``) are not sent at once but with the next
  statement, in one pipeline (psycopg's pipeline mode: the server runs them in order,
  so the lock is still taken before the transaction's first statement); ``COMMIT``
  goes with the last ``RELEASE``s, a transaction that ran nothing is never sent, and
  ``executemany`` sends its rows in one pipeline. A group commit of one job went from
  statements + 4 round trips to statements + 1.
- A constraint violation is ``IntegrityError`` (a ``sqlite3.IntegrityError``: the store
  catches one class on both engines); a lost connection, an administrator's shutdown,
  a full disk, a database that refuses writes (a standby) is ``StorageUnavailable``
  (503, retryable); the next job reconnects.
- ``PRAGMA`` statements are SQLite's: ignored, except ``wal_checkpoint`` (retention's
  erasure step), which runs ``VACUUM (FREEZE)`` so erased rows' dead versions are pruned.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, cast

import psycopg
import psycopg.adapt
import psycopg.conninfo
import psycopg.errors
import psycopg.pq
import structlog

from ..core.errors import StorageUnavailable
from .db import Database
from .db import _settle as settle  # the base class's own way to answer jobs
from .lanes import Lane
from .pg_sql import BOOL_SUM, EPOCH_FUNCTION, TEXT_CAST, translate
from .read_only import ReadOnly
from .schema import MIGRATIONS
from .write_watch import WriteWatch

log = structlog.get_logger()

# The key of the one advisory lock every write transaction takes ("EXCH" "WRIT").
WRITE_LOCK = 0x4558_4348_5752_4954
# Held around migrations, so that two processes starting at once migrate once.
MIGRATE_LOCK = WRITE_LOCK + 1
_OPEN = (psycopg.pq.TransactionStatus.INTRANS, psycopg.pq.TransactionStatus.INERROR)
# A session idle inside a transaction this long is ended by the server, and its write
# lock with it: a process that hangs (stopped, swapping, its machine gone with the TCP
# connection still open) would otherwise stall every writer of the authority. Our
# transactions run their statements back to back on one thread (milliseconds apart).
STALL_MS = 10_000
# The server arms that timer only when the last message was a plain query: after a
# pipeline (how our writes go) it does not fire. So a writer that waited STALL_MS for
# the lock (``lock_timeout``) ends the sessions that hold it idle in a transaction as
# long (``PgConnection._reclaim``); a holder still working is left alone.
_STALLED_HOLDERS = """SELECT pg_terminate_backend(a.pid) FROM pg_stat_activity a
    JOIN pg_locks l ON l.pid = a.pid
    WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
      AND l.classid::bigint = %s AND l.objid::bigint = %s
      AND a.state IN ('idle in transaction', 'idle in transaction (aborted)')
      AND a.state_change < now() - make_interval(secs => %s)"""
# Storage faults, answered 503 (retryable): a lost connection, a shut down server, a full
# disk, a session the server ended for stalling in a transaction (class 25, not an
# OperationalError), and a database that refuses writes (a hot standby,
# default_transaction_read_only), as SQLite's read-only database is (``db.storage_error``).
_FAULTS = (psycopg.OperationalError, psycopg.InterfaceError, psycopg.errors.ReadOnlySqlTransaction,
           psycopg.errors.IdleInTransactionSessionTimeout)  # fmt: skip
# libpq's TCP keepalives: a server that vanished is noticed in ~25 s, not hours
KEEPALIVES = {"keepalives": "1", "keepalives_idle": "10", "keepalives_interval": "5",
              "keepalives_count": "3"}  # fmt: skip


class IntegrityError(sqlite3.IntegrityError):
    """PostgreSQL refused a write for a constraint: caught as ``sqlite3.IntegrityError``."""


class _Numeric(psycopg.adapt.Loader):
    """SUM() of BIGINT is NUMERIC on PostgreSQL: an int (or float) as from SQLite."""

    def load(self, data: Any) -> int | float:
        text = bytes(data).decode()
        return int(text) if text.lstrip("-").isdigit() else float(text)


def _param(value: object) -> object:
    # a bool is an INTEGER on SQLite; PostgreSQL would refuse BOOLEAN for BIGINT
    return int(value) if isinstance(value, bool) else value


def _params(params: Sequence[Any] | Mapping[str, Any]) -> Any:
    if isinstance(params, Mapping):
        return {k: _param(v) for k, v in params.items()}
    return tuple(_param(p) for p in params)


class PgCursor:
    """What the store reads of a ``sqlite3.Cursor``."""

    def __init__(
        self, rows: list[tuple[Any, ...]], description: Any, rowcount: int, lastrowid: int | None
    ) -> None:
        self._rows = deque(rows)
        self.description = description
        self.rowcount = rowcount
        self.lastrowid = lastrowid

    def close(self) -> None:
        self._rows.clear()

    def fetchone(self) -> tuple[Any, ...] | None:
        return self._rows.popleft() if self._rows else None

    def fetchmany(self, size: int) -> list[tuple[Any, ...]]:
        return [self._rows.popleft() for _ in range(min(size, len(self._rows)))]

    def fetchall(self) -> list[tuple[Any, ...]]:
        rows = list(self._rows)
        self._rows.clear()
        return rows

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        while self._rows:
            yield self._rows.popleft()


class PgConnection:
    """The part of ``sqlite3.Connection`` the store uses, over one psycopg connection."""

    def __init__(self, url: str, *, read_only: bool = False) -> None:
        self.url = url
        self.read_only = read_only
        self.total_changes = 0
        # savepoints of a transaction a SAVEPOINT began (SQLite: its RELEASE commits)
        self._savepoints: list[str] | None = None
        # statements sent with the next one (their results unused); whether they begin
        # a transaction the server has not seen yet
        self._deferred: list[str] = []
        self._deferred_begin = False
        # what bounds a process on PostgreSQL (``exchange bench --only pg``, /metrics):
        # round trips, and write transactions with their time from BEGIN to COMMIT
        self.round_trips = 0
        self.transactions = 0
        self.transaction_seconds = 0.0
        self._began_at: float | None = None
        self._pg: psycopg.Connection[Any] | None = None
        self._connect()

    def _connect(self) -> None:
        try:
            # the URL's own settings win over these defaults
            given = psycopg.conninfo.conninfo_to_dict(self.url)
            conninfo = psycopg.conninfo.make_conninfo("", **{**KEEPALIVES, **given})
            pg = psycopg.connect(conninfo, autocommit=True, connect_timeout=10)
            pg.execute(f"SET idle_in_transaction_session_timeout = {int(STALL_MS)}")
            pg.execute(f"SET lock_timeout = {int(STALL_MS)}")
        except psycopg.Error as exc:
            raise _unavailable(exc) from exc
        pg.adapters.register_loader("numeric", _Numeric)
        if self.read_only:  # PostgreSQL refuses any write on it, as SQLite's mode=ro
            pg.execute("SET default_transaction_read_only = on")
        self._pg = pg

    @property
    def pg(self) -> psycopg.Connection[Any]:
        if self._pg is None or self._pg.closed or self._pg.broken:
            if self._pg is not None:
                log.warning("storage_reconnect")
                self._pg.close()
            self._pg = None
            self._connect()
        assert self._pg is not None
        return self._pg

    @property
    def in_transaction(self) -> bool:
        if self._deferred_begin:
            return True
        pg = self._pg
        if pg is None or pg.closed or pg.broken:
            return False
        return pg.info.transaction_status in _OPEN

    def execute(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> PgCursor:
        statement = translate(sql)
        if statement.kind == "pragma":
            return self._pragma(sql)
        if statement.kind == "begin":
            self._begin()
            return PgCursor([], None, -1, None)
        if statement.kind in ("savepoint", "release", "rollback_to"):
            return self._savepoint(statement.kind, sql.split()[-1])
        if statement.kind == "read":
            if statement.sql in ("COMMIT", "ROLLBACK"):
                return self._end(statement.sql)
            return self._run(statement.sql, _params(params))
        if not self.in_transaction:
            with self._transaction():
                return self._write(statement.sql, _params(params))
        return self._write(statement.sql, _params(params))

    def _begin(self) -> None:
        self._savepoints = None
        self._deferred = ["BEGIN", f"SELECT pg_advisory_xact_lock({WRITE_LOCK})"]
        self._deferred_begin = True

    def _end(self, command: str) -> PgCursor:
        """COMMIT (with what was deferred) or ROLLBACK (what was deferred is moot); a
        transaction the server has not seen is dropped, without a round trip."""
        if self._deferred_begin:
            self._deferred, self._deferred_begin = [], False
            return PgCursor([], None, -1, None)
        if command == "ROLLBACK":
            self._deferred = []
        try:
            return self._run(command, ())
        finally:
            if self._began_at is not None:
                self.transactions += 1
                self.transaction_seconds += time.perf_counter() - self._began_at
                self._began_at = None

    def _savepoint(self, kind: str, name: str) -> PgCursor:
        """SQLite's savepoints: outside a transaction, SAVEPOINT begins one (a write
        transaction: with the lock), and the RELEASE of its first savepoint commits."""
        if kind == "savepoint" and not self.in_transaction:
            self._begin()
            self._savepoints = []
        command = f"{'ROLLBACK TO' if kind == 'rollback_to' else kind.upper()} {name}"
        if kind != "rollback_to" and self.in_transaction:
            self._deferred.append(command)
        else:
            self._run(command, ())
        stack = self._savepoints
        if stack is None or not self.in_transaction:
            return PgCursor([], None, -1, None)
        if kind == "savepoint":
            stack.append(name)
        elif name in stack:
            top = len(stack) - 1 - stack[::-1].index(name)
            del stack[top + (kind == "rollback_to") :]
            if not stack:
                self._savepoints = None
                self._end("COMMIT")
        return PgCursor([], None, -1, None)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> PgCursor:
        """Every row's statement in one pipeline (one round trip), in the transaction."""
        statement = translate(sql)
        if statement.kind != "write":
            raise ValueError("executemany is for writes")
        if not self.in_transaction:
            with self._transaction():
                return self.executemany(sql, rows)
        cursor = self._run(statement.sql, [_params(row) for row in rows], many=True)
        self.total_changes += max(cursor.rowcount, 0)
        return cursor

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        self.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            if self.in_transaction:
                self._end("ROLLBACK")
            raise
        self._end("COMMIT")

    def _write(self, sql: str, params: Any) -> PgCursor:
        cursor = self._run(sql, params)
        self.total_changes += max(cursor.rowcount, 0)
        return cursor

    def _run(self, sql: str, params: Any, *, many: bool = False) -> PgCursor:
        """One round trip: what was deferred, then ``sql`` (its rows, rowcount)."""
        deferred, self._deferred = self._deferred, []
        if self._deferred_begin:
            self._began_at = time.perf_counter()
        self._deferred_begin = False  # sent now, or lost with the connection
        self.round_trips += 1
        try:
            pg = self.pg
            with pg.cursor() as cur:
                if deferred or many:
                    with pg.pipeline():
                        for command in deferred:
                            pg.execute(command)
                        if many:
                            cur.executemany(sql, params)
                        else:
                            cur.execute(sql, params)
                else:
                    cur.execute(sql, params)
                rows = cur.fetchall() if cur.description is not None else []
                return PgCursor(rows, cur.description, cur.rowcount, None)
        except psycopg.IntegrityError as exc:
            raise IntegrityError(_first_line(exc)) from exc
        except psycopg.errors.LockNotAvailable as exc:
            self._reclaim()
            raise _unavailable(exc) from exc
        except _FAULTS as exc:
            raise _unavailable(exc) from exc

    def _reclaim(self) -> None:
        """After waiting ``STALL_MS`` for the write lock (this job is refused, 503): end
        the sessions holding it idle in a transaction as long, a hung process's (its
        transaction rolls back, the lock is freed, the next job gets it)."""
        self._deferred, self._deferred_begin, self._savepoints = [], False, None
        lock = (WRITE_LOCK >> 32, WRITE_LOCK & 0xFFFF_FFFF, STALL_MS / 1000)
        try:
            pg = self.pg
            if pg.info.transaction_status in _OPEN:
                pg.execute("ROLLBACK")
            ended = pg.execute(_STALLED_HOLDERS, lock).fetchall()
        except psycopg.Error:
            return  # the refusal stands; the next wait tries again
        if ended:
            log.warning("storage_stalled_writer_ended", sessions=len(ended))

    def _pragma(self, sql: str) -> PgCursor:
        if "wal_checkpoint" in sql:
            # Retention's erasure step, outside any transaction: dead row versions
            # pruned. FREEZE makes the pass wait for a page another process has pinned
            # (a plain VACUUM skips pruning it); pages all-frozen before are skipped.
            self._run("VACUUM (FREEZE)", ())
            return PgCursor([(0, 0, 0)], None, -1, None)
        return PgCursor([], None, -1, None)

    def close(self) -> None:
        self._deferred, self._deferred_begin = [], False
        if self._pg is not None:
            self._pg.close()
            self._pg = None

    def __enter__(self) -> PgConnection:
        return self

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        """As ``with sqlite3.Connection``: the open transaction committed, or rolled back."""
        if self.in_transaction:
            self._end("COMMIT" if kind is None else "ROLLBACK")


def _first_line(exc: BaseException) -> str:
    return str(exc).split("\n", 1)[0]


def _unavailable(exc: BaseException) -> StorageUnavailable:
    """A storage fault, as the node reports it (the server's message names no secret,
    but the URL may hold a password: only the fault's class is logged)."""
    log.warning("storage_fault", fault=type(exc).__name__)
    refused = StorageUnavailable("the node cannot reach its storage now: try again later")
    refused.__cause__ = exc
    return refused


class PgDatabase(Database):
    """``Database`` on PostgreSQL: same lane, same group commit, same interface."""

    def __init__(self, url: str) -> None:
        # Database.__init__ opens an SQLite file: its state is set up here instead
        self.url = url
        self._executor = Lane()  # one job at a time, as for SQLite
        self._conn = None
        self._lock = threading.Lock()
        self._pending = deque()
        self._draining = False
        self.writes = 0
        self.watch = WriteWatch()
        self._executor.submit(self._open).result()

    def counters(self) -> dict[str, float]:
        conn = cast(PgConnection | None, self._conn)
        if conn is None:
            return {}
        return {
            "round_trips": conn.round_trips,
            "transactions": conn.transactions,
            "transaction_seconds": conn.transaction_seconds,
        }

    def _run_jobs(self, jobs: list[tuple[Callable[[sqlite3.Connection], Any], Any]]) -> Any:
        """The group's read-only jobs first, each alone (no transaction: no write
        lock) and answered at once, then the others in the group's write transaction."""
        reads = [job for job in jobs if isinstance(job[0], ReadOnly)]
        if reads:
            settle([self._run_alone(*job) for job in reads])  # not after the writes' COMMIT
            jobs = [job for job in jobs if not isinstance(job[0], ReadOnly)]
        if len(jobs) == 1:
            return [self._run_alone(*jobs[0])]
        return self._run_group(jobs) if jobs else []

    def _open(self) -> None:
        conn = PgConnection(self.url)
        require_c_collation(conn)
        self._conn = cast(sqlite3.Connection, conn)
        migrate_pg(conn)


def require_c_collation(conn: PgConnection) -> None:
    """Refuse a database whose text order is not byte order (SQLite's): the lists page
    by text keys, and a locale's order would skip or repeat rows between pages."""
    row = conn.execute(
        "SELECT datcollate FROM pg_database WHERE datname = current_database()"
    ).fetchone()
    if row is None or row[0] not in ("C", "POSIX"):
        raise StorageUnavailable(
            "the PostgreSQL database must be created with LC_COLLATE 'C'"
            " (CREATE DATABASE ... TEMPLATE template0 LC_COLLATE 'C' LC_CTYPE 'C')"
        )


def migrate_pg(conn: PgConnection) -> int:
    """``db.migrate`` on PostgreSQL, under an advisory lock: two processes starting at
    once apply each migration once (the second waits, then finds nothing to do)."""
    conn._run("SET lock_timeout = 0", ())  # another process's migrations may be long
    conn.execute("SELECT pg_advisory_lock(?)", (MIGRATE_LOCK,))
    conn._run(f"SET lock_timeout = {int(STALL_MS)}", ())
    try:
        conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        row = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
        version = int(row[0] or 0) if row else 0
        if version < len(MIGRATIONS):  # the functions the translated SQL calls
            for function in (EPOCH_FUNCTION, *BOOL_SUM, *TEXT_CAST):
                conn._run(function, ())
        for number, statements in enumerate(MIGRATIONS, start=1):
            if number <= version:
                continue
            with conn._transaction():
                for statement in statements:
                    conn.execute(statement)
                conn.execute("INSERT INTO schema_version (version) VALUES (?)", (number,))
            version = number
        return version
    finally:
        with contextlib.suppress(StorageUnavailable):
            conn.execute("SELECT pg_advisory_unlock(?)", (MIGRATE_LOCK,))
