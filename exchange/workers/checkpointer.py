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
        interval = self.node.config.audit.checkpoint_interval.total_seconds()
        loop = asyncio.get_running_loop()
        signed_at = float("-inf")  # sign at start
        while True:
            try:
                await audit.build_tree(self.node)
                if loop.time() - signed_at >= interval:
                    await audit.sign_now(self.node)
                    signed_at = loop.time()
            except Exception:  # keep signing later; the log itself is intact
                log.exception("checkpoint_failed")
            await asyncio.sleep(min(interval, TREE_INTERVAL))
