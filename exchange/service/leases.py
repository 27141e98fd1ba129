"""Leases on background duties, as the workers use them (``workers/leases.py``): each
call one database job; the rules are ``core.lease``'s, the rows ``store.leases``'s."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta

from ..core.lease import LeaseRow
from ..store import leases as store
from .node import Node


async def acquire(node: Node, duty: str, holder: str, ttl: timedelta) -> LeaseRow | None:
    now = node.clock.now()
    return await node.db.run(lambda c: store.acquire(c, duty, holder, now, ttl))


async def renew(
    node: Node, holder: str, held: list[tuple[str, int]], ttl: timedelta
) -> tuple[set[str], datetime, list[tuple[str, datetime]]]:
    """The duties renewed, and their new expiry (counted from the time read before the
    job: the holder's local deadline is never later than the row's); and the processes
    alive (``store.members``), read in the same job."""
    now = node.clock.now()

    def job(conn: sqlite3.Connection) -> tuple[set[str], list[tuple[str, datetime]]]:
        return store.renew(conn, holder, held, now, ttl), store.members(conn, now)

    renewed, alive = await node.db.run(job)
    return renewed, now + ttl, alive


async def members(node: Node) -> list[tuple[str, datetime]]:
    now = node.clock.now()
    return await node.db.run(lambda c: store.members(c, now))


async def release(node: Node, duty: str, holder: str, fence: int) -> bool:
    now = node.clock.now()
    return await node.db.run(lambda c: store.release(c, duty, holder, fence, now))


async def rows(node: Node) -> list[LeaseRow]:
    return await node.db.run(store.all_rows)
