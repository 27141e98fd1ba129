"""What the delivery worker does to the database: which envelopes are due for which
peer, their receipts stored, a retry scheduled, a message given up."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime
from functools import partial

from ..store import outbox as store
from ..store import receipts as receipt_store
from ..store import refusals as refusal_store
from ..store.db import transaction
from ..store.outbox import Due, Pending
from ..store.read_only import ReadOnly
from ..store.refusals import PeerRefusal
from . import witness
from .node import Node

__all__ = [
    "Due",
    "PeerRefusal",
    "Pending",
    "due",
    "due_now",
    "expire",
    "next_due",
    "retry_later",
    "store_receipts",
    "store_refusals",
]


async def next_due(node: Node) -> dict[str, datetime]:
    """Each peer with something waiting, and when its next envelope is due."""
    return await node.db.run(ReadOnly(store.next_due))


async def due(node: Node, peer: str, now: datetime, limit: int) -> Due:
    """The peer's envelopes due now, emergencies first; with fewer than ``limit``, when
    its next one not yet due falls due."""
    due = partial(store.due, peer=peer, now=now, limit=limit, me=node.me)
    return await node.db.run(ReadOnly(due))  # SELECTs of disjoint rows


async def due_now(node: Node, peer: str, now: datetime) -> None:
    """The peer answers again: what waits for it is due now, not at its retry times."""
    await node.db.run(partial(store.due_now, peer=peer, now=now))


async def store_receipts(
    node: Node,
    receipts: Sequence[tuple[str, bytes]],
    now: datetime,
    *,
    peer: str | None = None,
    claim: tuple[int, str] | None = None,
) -> int:
    """A transaction's verified receipts in one database job (all or none); returns
    how many were new. ``claim``: the largest log size ``peer`` signed in them (receipt
    v3), kept in the same commit."""

    def work(c: sqlite3.Connection) -> int:
        with transaction(c):
            new = receipt_store.store_receipts(c, me=node.me, receipts=receipts, now=now)
            if peer is not None:
                witness.record_claim(c, peer, claim, now)
            return new

    return await node.db.run(work)


async def store_refusals(node: Node, refusals: Sequence[PeerRefusal], now: datetime) -> int:
    """A transaction's verified refusals in one database job; returns how many were new."""
    return await node.db.run(
        lambda c: refusal_store.store_refusals(c, me=node.me, refusals=refusals, now=now)
    )


async def retry_later(
    node: Node, peer: str, msg_ids: list[str], *, error: str, at: datetime, now: datetime
) -> None:
    await node.db.run(
        lambda c: store.retry_later(c, msg_ids, error=error, at=at, me=node.me, peer=peer, now=now)
    )


async def expire(node: Node, msg_id: str, *, error: str, now: datetime) -> None:
    """Give a message up (expired, or refused for good by the peer)."""
    await node.db.run(lambda c: store.expire(c, me=node.me, msg_id=msg_id, error=error, now=now))
