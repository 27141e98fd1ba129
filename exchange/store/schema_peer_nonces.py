"""Migration 27 of store/schema.py (issue 18): the nonces of verified peer calls, kept
in the database while they are inside the skew window, so that a call one process of
an active-active authority accepted is a ``replay`` in every other process too.

A single process keeps them in memory (``core.peer_auth.NonceCache``) and writes
nothing here; ``[cluster] active_active`` adds this shared check (``store.peer_nonces``).
``ts_us``: the call's signed time in microseconds since the epoch; a row older than the
skew window is dropped, since a call that old is refused by its time already."""

from __future__ import annotations

PEER_NONCES: list[str] = [
    """CREATE TABLE peer_nonces (
        peer TEXT NOT NULL,
        nonce TEXT NOT NULL,
        ts_us INTEGER NOT NULL,
        PRIMARY KEY (peer, nonce)
    )""",
    "CREATE INDEX peer_nonces_by_time ON peer_nonces (ts_us)",
]
