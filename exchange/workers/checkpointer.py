"""Signs a checkpoint of the node's audit log while it grows (``service.audit``)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import structlog

from ..core.lease import Fence, LeaseLost
from ..runloop import every
from ..service import audit
from ..service.node import Node
from ..store.engine import is_postgresql
from ..store.write_watch import Stamp, outside_stamp

log = structlog.get_logger("exchange.checkpoint")
# rows this node changed since the tree was last built that make a round worth its
# database job (~100 requests): below, signing builds what is missing in its own job
BUSY_WRITES = 1000
OUTSIDE = -1  # what the look wakes the checkpointer with: not a write count


class Checkpointer:
    def __init__(self, node: Node, fence: Fence | None = None) -> None:
        """``fence``: the checkpoints lease this process signs under (active-active)."""
        self.node = node
        self.fence = fence
        # the database file whose changes by other connections a stat can see; None:
        # none can be seen so cheaply, sign every interval (PostgreSQL, active-active)
        active_active = node.config.cluster.active_active
        self.path: Path | None = (
            None if active_active or is_postgresql(node.db) else node.config.database
        )

    async def run(self) -> None:
        """A checkpoint signed at start, then at most every ``checkpoint_interval``
        while the log grows: the first entry after a quiet spell is signed at once (at
        most an interval after the last signing), the next ones at the interval.

        Woken by the database when this process writes (``WriteWatch``), not by a
        timer: a node that writes nothing costs no database job and no wake-up but a
        ``stat`` of its database's files each interval (a call on the process's shared
        timer, ``runloop.every``), which is how entries appended by another connection
        (a CLI command) are seen and signed within an interval, as before. The tree is
        built on the way in jobs of ``BUSY_WRITES`` rows' worth, so that signing stays
        a short job at ~1,000 requests a second.
        """
        interval = self.node.config.audit.checkpoint_interval.total_seconds()
        while True:
            stamp = outside_stamp(self.path)  # before the job: a later write differs
            try:
                mark = await audit.sign_counted(self.node, self.fence)
            except LeaseLost:
                raise  # the duty stops: another process signs now
            except Exception:  # sign again after an interval; the log itself is intact
                log.exception("checkpoint_failed")
                mark = -1
            await self._until_due(mark, stamp, interval)

    async def _until_due(self, mark: int, stamp: Stamp, interval: float) -> None:
        """Return when the next signing is due: something was written after the write
        count ``mark`` and an interval has passed since the last signing."""
        db, loop = self.node.db, asyncio.get_running_loop()
        due = loop.time() + interval  # the next signing
        built = mark
        while True:
            now = loop.time()
            if db.writes > mark:  # this process wrote since the signing
                if now >= due:
                    return
                if await self._written(built + BUSY_WRITES - 1, due - now):
                    built = db.writes
                    await self._build_tree()
                continue
            if self.path is None:  # no file to look at: sign every interval
                if await self._written(mark, max(due - now, 0.0)):
                    continue
                return
            # nothing written here: woken by the first write, or by the look at the
            # database's files (on the process's shared timer) for another connection's
            if await self._written_or_outside(mark, stamp, interval):
                continue
            if (wait := due - loop.time()) > 0:  # the look came early: the interval first
                await asyncio.sleep(wait)
            return

    async def _written_or_outside(self, mark: int, stamp: Stamp, interval: float) -> bool:
        """Until this process's writes pass ``mark`` (True), or another connection's
        writes change the database's files from ``stamp`` (False).

        The look is a callback of ``runloop.every``: an idle node has no timer and no
        task waking of its own (1,000 nodes each woke every interval to time out a wait
        and then ``stat`` two files).
        """
        woken = self.node.db.watch.beyond(mark)
        path = self.path

        def look() -> None:
            # (no stamp: a stat failed; assume something changed, as before)
            if not woken.done() and (stamp is None or outside_stamp(path) != stamp):
                woken.set_result(OUTSIDE)

        timer = every(interval, look)
        try:
            return await woken != OUTSIDE
        finally:
            timer.cancel()
            woken.cancel()  # (done already, or given up: the watch forgets it)

    async def _written(self, mark: int, within: float) -> bool:
        """Whether this process's writes pass ``mark`` within ``within`` seconds."""
        try:
            async with asyncio.timeout(within):
                await self.node.db.watch.beyond(mark)
        except TimeoutError:
            return False
        return True

    async def _build_tree(self) -> None:
        try:
            await audit.build_tree(self.node)
        except Exception:  # signing builds what is missing
            log.exception("checkpoint_tree_failed")
