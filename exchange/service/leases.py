"""Leases on background duties, as the workers use them (``workers/leases.py``): each
call one database job; the rules are ``core.lease``'s, the rows ``store.leases``'s."""

from __future__ import annotations

from datetime import datetime, timedelta

from ..core.lease import LeaseRow
from ..store import leases as store
from .node import Node


async def acquire(node: Node, duty: str, holder: str, ttl: timedelta) -> LeaseRow | None:
    now = node.clock.now()
    return await node.db.run(lambda c: store.acquire(c, duty, holder, now, ttl))


async def renew(
    node: Node, holder: str, held: list[tuple[str, int]], ttl: timedelta
) -> tuple[set[str], datetime]:
    """The duties renewed, and their new expiry (counted from the time read before the
    job: the holder's local deadline is never later than the row's)."""
    now = node.clock.now()
    renewed = await node.db.run(lambda c: store.renew(c, holder, held, now, ttl))
    return renewed, now + ttl


async def release(node: Node, duty: str, holder: str, fence: int) -> bool:
    now = node.clock.now()
    return await node.db.run(lambda c: store.release(c, duty, holder, fence, now))


async def rows(node: Node) -> list[LeaseRow]:
    return await node.db.run(store.all_rows)
