"""Break: a node process hangs while it holds the authority's write lock.

Every write transaction on PostgreSQL takes one advisory lock (``store/pg.py``). A
process that stops inside a transaction (SIGSTOP here; in life a swap storm, a frozen
VM, a machine gone while its TCP connection looks open) kept that lock, and every other
process of the authority waited for it without end: one hung process was a single
point of failure. Now a writer that waited ``STALL_MS`` (10 s) for the lock is refused
(503, retried) and ends the sessions holding it idle in a transaction as long; the lock
goes with them, the others write again, and the hung process, when it wakes, gets 503
for what it held (rolled back) and reconnects. (The server's own
``idle_in_transaction_session_timeout``, also set, does not fire after a pipeline.)"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from exchange.core.errors import StorageUnavailable
from exchange.store.pg import STALL_MS, PgConnection, migrate_pg

from ..postgres import cluster, on_postgresql

pytestmark = pytest.mark.skipif(not on_postgresql(), reason="PostgreSQL's write lock")

_HOLDER = """
import sys
from exchange.core.errors import StorageUnavailable
from exchange.store.pg import PgConnection
conn = PgConnection(sys.argv[1])
conn.execute("BEGIN IMMEDIATE")  # the write lock
conn.execute("INSERT INTO leases (duty, holder, expires_at, fence, acquired_at)"
             " VALUES ('held', 'hung', 0, 1, 0)")
print("holding", flush=True)
sys.stdin.readline()  # stopped here by the test, then woken
try:
    conn.execute("COMMIT")
    print("committed", flush=True)
except StorageUnavailable:
    print("unavailable", flush=True)
conn.execute("INSERT INTO leases (duty, holder, expires_at, fence, acquired_at)"
              " VALUES ('after', 'woken', 0, 1, 0)")
print("recovered", flush=True)
"""


def _write(url: str) -> tuple[float, int]:
    """A job of another process, retried as the node retries a 503: how long until it
    was written, and how many attempts were refused first."""
    conn = PgConnection(url)
    started, refused = time.monotonic(), 0
    try:
        while True:
            try:
                conn.execute(
                    "INSERT INTO leases (duty, holder, expires_at, fence, acquired_at)"
                    " VALUES ('other', 'alive', 0, 1, 0)"
                )
                return time.monotonic() - started, refused
            except StorageUnavailable:
                refused += 1
                assert refused < 3
    finally:
        conn.close()


def test_a_hung_process_holding_the_write_lock_stalls_the_others_only_for_a_while() -> None:
    url = cluster().database()
    reader = PgConnection(url)
    migrate_pg(reader)
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, url],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert holder.stdin is not None and holder.stdout is not None
    pool = ThreadPoolExecutor(1)
    try:
        assert holder.stdout.readline().strip() == "holding"
        os.kill(holder.pid, signal.SIGSTOP)
        waited, refused = pool.submit(_write, url).result(timeout=STALL_MS / 1000 + 20)
        assert waited >= STALL_MS / 1000 and refused == 1  # it waited, then ended the holder
        os.kill(holder.pid, signal.SIGCONT)
        out, err = holder.communicate("wake\n", timeout=60)
        marks = ("committed", "unavailable", "recovered")
        said = [line for line in out.splitlines() if line in marks]
        assert said == ["unavailable", "recovered"], out[-2000:] + err[-2000:]
        duties = {r[0] for r in reader.execute("SELECT duty FROM leases").fetchall()}
        assert duties == {"other", "after"}  # the hung transaction's row rolled back
    finally:
        if holder.poll() is None:
            holder.kill()  # a stopped process dies of SIGKILL too: the lock goes
        pool.shutdown(wait=True)
        reader.close()


def test_the_node_sessions_carry_the_stall_bound_and_keepalives() -> None:
    conn = PgConnection(cluster().database())
    try:
        (value,) = conn.execute("SHOW idle_in_transaction_session_timeout").fetchone() or ("",)
        assert value == f"{STALL_MS // 1000}s"
        assert conn.pg.info.get_parameters()["keepalives_idle"] == "10"
    finally:
        conn.close()


def test_a_session_ended_by_the_server_is_unavailable_then_reconnects() -> None:
    url = cluster().database()
    conn = PgConnection(url)
    admin = PgConnection(url)
    try:
        migrate_pg(conn)
        conn.execute("BEGIN IMMEDIATE")
        pid = conn.execute("SELECT pg_backend_pid()").fetchone()
        assert pid is not None
        admin.execute("SELECT pg_terminate_backend(?)", (pid[0],))
        with pytest.raises(StorageUnavailable):
            conn.execute("SELECT 1").fetchone()
        assert conn.execute("SELECT 1").fetchone() == (1,)
    finally:
        conn.close()
        admin.close()
