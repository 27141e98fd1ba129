"""What the witness remembers of each peer between rounds besides its view: the
alerts still open, since when the peer has been unavailable, and the largest log
size the peer has signed in an envelope to us (migration 15)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from ..core.canonical import format_time, parse_time
from ..core.witness import PeerRecord
from .db import fetch_all, fetch_one


def record(conn: sqlite3.Connection, peer: str) -> PeerRecord:
    row = fetch_one(conn, "SELECT since FROM witness_unavailable WHERE peer = ?", (peer,))
    kinds = fetch_all(
        conn,
        "SELECT DISTINCT kind FROM witness_alerts WHERE peer = ? AND closed_at IS NULL",
        (peer,),
    )
    since = parse_time(row["since"], field="since") if row is not None else None
    return PeerRecord(since, frozenset(str(k["kind"]) for k in kinds))


def close_alerts(conn: sqlite3.Connection, peer: str, kinds: Iterable[str], now: datetime) -> None:
    for kind in kinds:
        conn.execute(
            """UPDATE witness_alerts SET closed_at = ?
               WHERE peer = ? AND kind = ? AND closed_at IS NULL""",
            (format_time(now), peer, kind),
        )


def set_unavailable(
    conn: sqlite3.Connection, peer: str, since: datetime | None, error: str
) -> None:
    """Remember since when ``peer`` is unavailable, or forget it (None: it answered)."""
    if since is None:
        conn.execute("DELETE FROM witness_unavailable WHERE peer = ?", (peer,))
        return
    conn.execute(
        """INSERT INTO witness_unavailable (peer, since, last_error) VALUES (?, ?, ?)
           ON CONFLICT (peer) DO UPDATE SET last_error = excluded.last_error""",
        (peer, format_time(since), error),
    )


@dataclass(frozen=True)
class Claim:
    """The largest audit log size ``peer`` signed in an envelope to us, and which."""

    peer: str
    size: int
    claim: str  # canonical JSON: the signed header and the envelope's SHA-256


def record_claim(conn: sqlite3.Connection, peer: str, size: int, claim: str, now: datetime) -> None:
    """Keep the claim if it is larger than the one held (never moves back)."""
    conn.execute(
        """INSERT INTO peer_log_claims (peer, size, claim, claimed_at) VALUES (?, ?, ?, ?)
           ON CONFLICT (peer) DO UPDATE SET size = excluded.size, claim = excluded.claim,
           claimed_at = excluded.claimed_at WHERE excluded.size > peer_log_claims.size""",
        (peer, size, claim, format_time(now)),
    )


def largest_claim(conn: sqlite3.Connection, peer: str) -> Claim | None:
    row = fetch_one(conn, "SELECT peer, size, claim FROM peer_log_claims WHERE peer = ?", (peer,))
    return Claim(str(row["peer"]), int(row["size"]), str(row["claim"])) if row else None
