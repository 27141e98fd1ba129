"""What this node, as a witness, remembers of each peer's log: the last view it
verified, the alerts it raised (with both notes as evidence, audited) and which are
still open, and since when a peer has been unavailable."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from ..core.witness import Outcome, respond
from ..store import witness as store
from ..store import witness_outcomes as outcomes
from ..store.db import transaction
from ..store.witness import PeerView
from .node import Node


async def last_view(node: Node, peer: str) -> PeerView | None:
    return await node.db.run(lambda c: store.view(c, peer))


async def advance(node: Node, peer: str, *, size: int, root: bytes, note: str) -> None:
    """The peer's log grew consistently: remember the new checkpoint."""
    now = node.clock.now()
    await node.db.run(
        lambda c: store.advance(c, peer=peer, size=size, root=root, note=note, now=now)
    )


async def conclude(
    node: Node, peer: str, outcome: Outcome, *, detail: str, evidence: dict[str, str]
) -> bool:
    """Act on one round's outcome (``core.witness.respond``) in one transaction: raise
    the alert it calls for (with its evidence, audited), close the alerts it resolves,
    remember or forget the peer's unavailability. True when an alert was raised."""
    now = node.clock.now()
    alert_after = node.config.audit.witness_unavailable_alert_after

    def work(c: sqlite3.Connection) -> bool:
        with transaction(c):
            response = respond(outcome, outcomes.record(c, peer), now, alert_after)
            outcomes.close_alerts(c, peer, response.close, now)
            outcomes.set_unavailable(c, peer, response.unavailable_since, detail)
            if response.alert:
                store.raise_alert(
                    c, me=node.me, peer=peer, kind=outcome, detail=detail,
                    evidence=evidence, now=now,
                )  # fmt: skip
            return response.alert

    return await node.db.run(work)


async def cosignature_time(node: Node, peer: str) -> datetime:
    """The time to put in a cosignature of ``peer``'s current view: when it was first
    verified, so a log that stops growing keeps an ageing cosignature, not a fresh one."""
    first = await node.db.run(lambda c: outcomes.first_seen(c, peer))
    return first or node.clock.now()
