"""A verified peer call's nonce, claimed across the processes of one authority.

Each process refuses a nonce it saw itself (``core.peer_auth.NonceCache``, in memory).
With ``[cluster] active_active`` a captured call could otherwise be replayed to another
process of the same authority within the skew window: the shared record
(``store.peer_nonces``) makes it a ``replay`` (409) there too. One process per data
folder (the default) writes nothing: its memory sees every call."""

from __future__ import annotations

from ..core.errors import Replay
from ..core.peer_auth import MAX_SKEW, CallAuth
from ..store import peer_nonces
from .node import Node


async def claim(node: Node, auth: CallAuth) -> None:
    """Raise ``Replay`` if another process of this authority accepted this call."""
    if not node.config.cluster.active_active:
        return
    horizon = node.clock.now() - MAX_SKEW  # an older call is refused by its time already
    fresh = await node.db.run(
        lambda c: peer_nonces.claim(
            c, peer=auth.sender, nonce=auth.nonce, ts=auth.ts, horizon=horizon
        )
    )
    if not fresh:
        raise Replay("this peer call was already made (another process of this node saw it)")
