"""The node's effective settings: a change between two starts is an audit entry."""

from __future__ import annotations

import structlog

from ..config import settings_summary
from ..store import settings as store
from .node import Node

log = structlog.get_logger("exchange.node")


async def record_changes(node: Node) -> list[str] | None:
    """Audit a change of settings since the last start (an edited node.toml)."""
    summary = settings_summary(node.config)
    now = node.clock.now()
    changed = await node.db.run(
        lambda c: store.record_settings(
            c, me=node.me, settings=summary, actor="local_admin", now=now
        )
    )
    if changed:
        log.warning("settings_changed", sections=changed)
    return changed
