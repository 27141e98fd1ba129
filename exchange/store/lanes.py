"""Database threads shared by the databases of one process, each database's work still
one job at a time and in order (a ``Lane``).

A database had a thread of its own. A node alone in its process (production) has one
database, so one thread either way; but a process holding many nodes (the scale
benchmark: 125 a process) had 125 threads sharing one interpreter lock, each with its
stack and its allocator arena: measured at 1,000 nodes, ~2.5 MB a node of memory and
more CPU than with four threads. A lane keeps what the thread of its own gave: its
tasks never overlap and run in the order submitted, so a database's writes stay
serialised (its group commit and its durable COMMIT are unchanged).

A lane runs one task per turn on the threads and queues again behind the other lanes
while it has more, so one busy database does not hold a thread from the others.

The threads are ``Threads``, not a ``ThreadPoolExecutor``: a turn is the lane itself
put on a ``queue.SimpleQueue``, where the executor made a ``Future``, a work item and a
semaphore round for each (the turn's outcome is the lane's business: a database's
drain answers its callers itself).
"""

from __future__ import annotations

import contextlib
import queue
import threading
import weakref
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

T = TypeVar("T")
# threads for all the databases of a process: one event loop's nodes rarely have more
# than a few commits waiting on the disk at once (measured: 4 for 125 nodes)
POOL_THREADS = 4


class Threads:
    """A few threads taking lanes' turns from one queue, started on first use.

    At interpreter exit (before the non-daemon threads are joined) they run what was
    already queued and stop; a lane queued after that is refused with ``RuntimeError``,
    as a ``ThreadPoolExecutor``'s ``submit`` was.
    """

    def __init__(self, count: int, name: str = "sqlite") -> None:
        self.count, self.name = count, name
        self._queue: queue.SimpleQueue[Lane | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._closed = False
        _every.add(self)

    def put(self, lane: Lane) -> None:
        """Give ``lane`` a turn on the next free thread."""
        with self._lock:  # so that no turn is queued behind the threads' last call
            if self._closed:
                raise RuntimeError("cannot schedule new tasks after shutdown")
            if not self._threads:
                self._start()
            self._queue.put(lane)

    def _start(self) -> None:
        for n in range(self.count):
            thread = threading.Thread(target=self._work, name=f"{self.name}_{n}")
            thread.start()
            self._threads.append(thread)

    def _work(self) -> None:
        while (lane := self._queue.get()) is not None:
            lane._turn()

    def shutdown(self) -> None:
        """Refuse new turns; the threads finish those queued, then end (joined)."""
        with self._lock:
            self._closed = True
            threads = list(self._threads)
            for _ in threads:
                self._queue.put(None)
        for thread in threads:
            if thread is not threading.current_thread():
                thread.join()


_every: weakref.WeakSet[Threads] = weakref.WeakSet()


def _at_exit() -> None:
    for threads in list(_every):
        threads.shutdown()


# Run before the interpreter joins its non-daemon threads (the hook concurrent.futures
# uses for its executors' threads): without it, exit would wait for ours forever.
threading._register_atexit(_at_exit)  # type: ignore[attr-defined]

_pool: Threads | None = None
_pool_lock = threading.Lock()


def shared_pool() -> Threads:
    """The process's database threads (each started on first use)."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = Threads(POOL_THREADS)
        return _pool


class Lane:
    """An executor whose tasks run one at a time, in order, on shared threads."""

    def __init__(self, pool: Threads | None = None) -> None:
        self._pool = pool or shared_pool()
        self._lock = threading.Lock()
        self._tasks: deque[tuple[Future[Any] | None, Callable[[], Any]]] = deque()
        self._scheduled = False  # a turn of this lane is queued on the threads or running
        self._closed = False

    def submit(self, fn: Callable[[], T]) -> Future[T]:
        future: Future[T] = Future()
        self._add(future, fn)
        return future

    def post(self, fn: Callable[[], object]) -> None:
        """``submit`` for a task whose outcome nobody reads (a database's drain tells
        its callers itself): no ``Future`` made, set and notified for nothing, once
        per database job (~8 % of a benchmark worker's event-loop CPU went to making
        futures). What it raises is dropped, as an unread future's would be."""
        self._add(None, fn)

    def _add(self, future: Future[Any] | None, fn: Callable[[], Any]) -> None:
        with self._lock:
            if self._closed:
                raise RuntimeError("cannot schedule new tasks after shutdown")
            self._tasks.append((future, fn))
            if self._scheduled:
                return
            self._scheduled = True
        self._schedule()

    def _schedule(self) -> None:
        try:
            self._pool.put(self)
        except RuntimeError as exc:  # the interpreter is exiting: nothing runs any more
            with self._lock:
                waiting, self._scheduled = list(self._tasks), False
                self._tasks.clear()
            for future, _ in waiting:
                if future is not None and future.set_running_or_notify_cancel():
                    future.set_exception(exc)

    def _turn(self) -> None:
        with self._lock:
            future, fn = self._tasks.popleft()
        if future is None:
            with contextlib.suppress(BaseException):  # nobody reads it
                fn()
        elif future.set_running_or_notify_cancel():
            try:
                result = fn()
            except BaseException as exc:
                future.set_exception(exc)
            else:
                future.set_result(result)
        with self._lock:
            if not self._tasks:
                self._scheduled = False
                return
        self._schedule()  # behind the lanes already waiting

    def shutdown(self) -> None:
        """Refuse new tasks; those already submitted still run."""
        with self._lock:
            self._closed = True
