"""Which peers one witnessing round calls: all of them in a small federation, a moving
window of them in a large one.

Every round the witness asks each peer it watches for a checkpoint (a call, and a proof
and a cosignature when the log grew), and submits our own checkpoint to each peer's
witness. With N nodes that is O(N) calls a node a round and O(N²) in the federation:
~67 calls a second a node at 1,000 nodes and the default 30 s round, each a new TLS
handshake (an idle connection is closed after 15 s, before the next round). Above
``per_round`` peers, a round calls ``per_round`` of them: a window over the peers in a
fixed order that moves on by ``per_round`` each round, so every peer is called at least
once every ``rounds_to_cover`` rounds. The window starts where a hash of the caller's
own id says, so that the federation's nodes do not all call the same peers in the same
round. What it costs is time, written in docs/THREAT_MODEL.md: a fork shown to one
witness is seen by it within ``rounds_to_cover`` rounds instead of one.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable


def peers_this_round(peers: Iterable[str], me: str, round_number: int, per_round: int) -> list[str]:
    """The peers round ``round_number`` (0, 1, ...) calls: every one of ``peers`` when
    there are at most ``per_round``, else ``per_round`` of them (in sorted order from
    the window's start, wrapping round)."""
    ordered = sorted(set(peers))
    count = len(ordered)
    if count <= per_round:
        return ordered
    offset = int.from_bytes(hashlib.sha256(me.encode()).digest()[:8], "big")
    start = (offset + round_number * per_round) % count
    return [ordered[(start + i) % count] for i in range(per_round)]


def rounds_to_cover(peers: int, per_round: int) -> int:
    """The rounds within which every one of ``peers`` is called at least once."""
    return max(1, math.ceil(peers / per_round))
