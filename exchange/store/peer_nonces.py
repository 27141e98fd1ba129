"""The shared nonce record of peer calls (migration 27, schema_peer_nonces.py): one
transaction per verified call, serialised by the write lock on both engines, so two
processes cannot both accept the same call."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from .db import transaction


def _us(moment: datetime) -> int:
    return int(moment.timestamp() * 1_000_000)


def claim(
    conn: sqlite3.Connection, *, peer: str, nonce: str, ts: datetime, horizon: datetime
) -> bool:
    """Record ``peer``'s call ``nonce`` (signed at ``ts``); False if it is recorded
    already. Rows older than ``horizon`` (the skew window's start) go first."""
    with transaction(conn):
        conn.execute("DELETE FROM peer_nonces WHERE ts_us < ?", (_us(horizon),))
        seen = conn.execute(
            "SELECT 1 FROM peer_nonces WHERE peer = ? AND nonce = ?", (peer, nonce)
        ).fetchone()
        if seen is not None:
            return False
        conn.execute(
            "INSERT INTO peer_nonces (peer, nonce, ts_us) VALUES (?, ?, ?)",
            (peer, nonce, _us(ts)),
        )
    return True


def count(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT COUNT(*) FROM peer_nonces").fetchone()[0])
