"""What this node, as a witness, remembers of each peer's log: the last view it
verified, and the alerts it raised (with both notes as evidence, audited)."""

from __future__ import annotations

import sqlite3

from ..core.witness import Judgement
from ..store import witness as store
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


async def raise_alert(
    node: Node, peer: str, judgement: Judgement, *, previous: str, presented: str
) -> bool:
    """Record a fork or a shrunk log once; True when it is new."""
    evidence = {"previous": previous, "presented": presented}
    now = node.clock.now()

    def work(c: sqlite3.Connection) -> bool:
        if store.alert_exists(c, peer, judgement.verdict, judgement.detail):
            return False
        store.raise_alert(
            c,
            me=node.me,
            peer=peer,
            kind=judgement.verdict,
            detail=judgement.detail,
            evidence=evidence,
            now=now,
        )
        return True

    return await node.db.run(work)
