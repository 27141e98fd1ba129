"""Telling a waiting coroutine that the database was written, instead of it polling.

``Database.writes`` counts the rows its connection changed (updated on the database
thread after each job group, before anyone hears back). A coroutine that has nothing
to do until the count passes some mark (the checkpointer: until anything is written
after a signing, or until enough is written for a tree round) awaits
``WriteWatch.beyond(mark)`` and is woken once, when a group takes the count past it.
An idle node then costs no wake-up at all (1,000 nodes of the benchmark each woke
every second to compare two integers).

Writes by another connection to the same file (a CLI command, another process of an
active-active authority) are not counted here: ``outside_stamp`` is what a watcher
compares for those, a ``stat`` of the database's files and no database job.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from pathlib import Path


class WriteWatch:
    """Futures waiting for a database's write count to pass a mark."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiting: list[tuple[int, asyncio.AbstractEventLoop, asyncio.Future[int]]] = []
        self._count = 0

    def beyond(self, mark: int) -> asyncio.Future[int]:
        """A future set to the write count once it is above ``mark`` (at once if it is
        already). Cancelling it is how a waiter gives up (a timeout)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[int] = loop.create_future()
        with self._lock:
            if self._count <= mark:  # (and forget those who gave up)
                self._waiting = [w for w in self._waiting if not w[2].done()]
                self._waiting.append((mark, loop, future))
                return future
            count = self._count
        future.set_result(count)
        return future

    def advance(self, count: int) -> None:
        """The database thread's new count: wake whoever waited for less."""
        with self._lock:
            self._count = count
            if not self._waiting:
                return
            due = [w for w in self._waiting if w[0] < count]
            if not due:
                return
            self._waiting = [w for w in self._waiting if w[0] >= count]
        for _, loop, future in due:
            with contextlib.suppress(RuntimeError):  # that loop has closed: nobody waits
                loop.call_soon_threadsafe(_settle, future, count)


def _settle(future: asyncio.Future[int], count: int) -> None:
    if not future.done():  # the waiter may have given up meanwhile
        future.set_result(count)


Stamp = tuple[int, ...] | None


def outside_stamp(path: Path | None) -> Stamp:
    """What changes when any connection writes the SQLite database at ``path``: its
    file's and its WAL's inode, size and modification time (not the ``-shm`` file, which
    readers write too). ``None`` when it cannot tell (PostgreSQL: no file; a missing
    file): the caller must then assume something changed."""
    if path is None:
        return None
    stamp: list[int] = []
    for name in (str(path), f"{path}-wal"):
        try:
            info = os.stat(name)
        except FileNotFoundError:
            stamp += (0, 0, 0)
            continue
        except OSError:
            return None
        stamp += (info.st_ino, info.st_size, info.st_mtime_ns)
    return tuple(stamp)
