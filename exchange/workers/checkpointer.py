"""Signs a checkpoint of the node's audit log while it grows (``service.audit``)."""

from __future__ import annotations

import asyncio

import structlog

from ..service import audit
from ..service.node import Node

log = structlog.get_logger("exchange.checkpoint")
TREE_INTERVAL = 1.0  # seconds between tree-building rounds


class Checkpointer:
    def __init__(self, node: Node) -> None:
        self.node = node

    async def run(self) -> None:
        """The tree built every second while this node writes, and a checkpoint signed
        every ``checkpoint_interval`` (a new one only if the log grew).

        An idle node costs one database job per interval, not one a second: with 125
        nodes in a benchmark process (or any node at rest) the per-second rounds were
        most of its idle CPU. The signing round still runs every interval, whatever
        this node wrote: another process (a CLI command) may have appended entries.
        """
        interval = self.node.config.audit.checkpoint_interval.total_seconds()
        loop = asyncio.get_running_loop()
        signed_at = float("-inf")  # sign at start
        signed_writes: int | None = None  # the database's write count when last signed
        while True:
            writes = self.node.db.writes
            try:
                if writes != signed_writes:
                    await audit.build_tree(self.node)
                if loop.time() - signed_at >= interval:
                    await audit.sign_now(self.node)
                    signed_at, signed_writes = loop.time(), writes
            except Exception:  # keep signing later; the log itself is intact
                log.exception("checkpoint_failed")
            await asyncio.sleep(min(interval, TREE_INTERVAL))
