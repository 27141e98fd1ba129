"""Signs a checkpoint of the node's audit log while it grows (``service.audit``)."""

from __future__ import annotations

import asyncio

import structlog

from ..core.lease import Fence, LeaseLost
from ..service import audit
from ..service.node import Node

log = structlog.get_logger("exchange.checkpoint")
TREE_INTERVAL = 1.0  # seconds between tree-building rounds
# rows this node changed since the tree was last built that make a round worth its
# database job (~100 requests): below, signing builds what is missing in its own job
BUSY_WRITES = 1000


class Checkpointer:
    def __init__(self, node: Node, fence: Fence | None = None) -> None:
        """``fence``: the checkpoints lease this process signs under (active-active)."""
        self.node = node
        self.fence = fence

    async def run(self) -> None:
        """A checkpoint signed every ``checkpoint_interval`` (a new one only if the log
        grew); the tree built every second in between only while the node is busy.

        Signing completes the tree itself (``audit.tree``). The per-second rounds keep
        that job short at ~1,000 requests a second; at a trickle they were most of a
        node's database jobs (1,000 nodes of a benchmark: ~62,000 of ~194,000 in the
        run, and every idle node's one job a second). The signing round runs every
        interval whatever this node wrote: another process (a CLI command) may have
        appended entries.
        """
        interval = self.node.config.audit.checkpoint_interval.total_seconds()
        loop = asyncio.get_running_loop()
        signed_at = float("-inf")  # sign at start
        built = self.node.db.writes  # the database's write count when the tree was built
        while True:
            writes = self.node.db.writes
            try:
                if writes - built >= BUSY_WRITES:
                    await audit.build_tree(self.node)
                    built = writes
                if loop.time() - signed_at >= interval:
                    await audit.sign_now(self.node, self.fence)
                    signed_at, built = loop.time(), writes
            except LeaseLost:
                raise  # the duty stops: another process signs now
            except Exception:  # keep signing later; the log itself is intact
                log.exception("checkpoint_failed")
            await asyncio.sleep(min(interval, TREE_INTERVAL))
