"""What the admin sees of each peer: outbox backlog and how the last attempt went."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass


@dataclass(frozen=True)
class PeerStatus:
    peer: str
    backlog: int
    reachable: str  # "yes", "no" or "unknown"
    last_error: str | None


def status(conn: sqlite3.Connection) -> list[PeerStatus]:
    """Per peer: messages waiting, and whether the last attempt reached it.

    A peer is "yes" reachable when messages to it were receipted and nothing waits
    with an error; "no" when messages wait after a failed attempt.
    """
    rows = conn.execute(
        """SELECT peer,
                  SUM(state = 'pending') AS backlog,
                  SUM(state = 'pending' AND last_error IS NOT NULL) AS failing,
                  SUM(state = 'done') AS delivered,
                  (SELECT last_error FROM outbox o2 WHERE o2.peer = o.peer
                     AND o2.state = 'pending' AND o2.last_error IS NOT NULL
                     ORDER BY next_attempt_at DESC LIMIT 1) AS last_error
           FROM outbox o GROUP BY peer ORDER BY peer"""
    ).fetchall()
    result = []
    for peer, backlog, failing, delivered, last_error in rows:
        reachable = "no" if failing else ("yes" if delivered else "unknown")
        result.append(PeerStatus(str(peer), int(backlog or 0), reachable, last_error))
    return result


def directory_loaded_at(conn: sqlite3.Connection) -> str | None:
    row = conn.execute("SELECT loaded_at FROM directory_state WHERE id = 1").fetchone()
    return str(row[0]) if row else None
