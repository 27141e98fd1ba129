"""Signed witness alerts (core/witness_alert.py) on their way out to every peer, and
those received from other witnesses (migration 15). A received one and its audit
entry commit together; the same statement, or the same evidence from the same issuer
(migration 18), is kept once."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime

from ..core.canonical import format_time, sha256_hex
from ..core.cursor import Position
from . import audit
from .db import fetch_all, transaction
from .paging import Page, page_of


def queue(conn: sqlite3.Connection, alert_id: int, statement: bytes, peers: Iterable[str]) -> None:
    """Inside the transaction that raised alert ``alert_id``: send it to ``peers``."""
    conn.executemany(
        "INSERT OR IGNORE INTO witness_alerts_out (alert_id, peer, statement) VALUES (?, ?, ?)",
        [(alert_id, peer, statement) for peer in peers],
    )


@dataclass(frozen=True)
class Outgoing:
    alert_id: int
    peer: str
    statement: bytes


def pending(conn: sqlite3.Connection) -> list[Outgoing]:
    rows = fetch_all(
        conn,
        "SELECT alert_id, peer, statement FROM witness_alerts_out WHERE done_at IS NULL"
        " ORDER BY alert_id, peer",
    )
    return [Outgoing(int(r["alert_id"]), str(r["peer"]), bytes(r["statement"])) for r in rows]


def done(conn: sqlite3.Connection, alert_id: int, peer: str, outcome: str, now: datetime) -> None:
    """The peer accepted the statement (``ok``) or refused it for good (its code)."""
    with transaction(conn):
        conn.execute(
            "UPDATE witness_alerts_out SET outcome = ?, done_at = ?"
            " WHERE alert_id = ? AND peer = ?",
            (outcome, format_time(now), alert_id, peer),
        )


@dataclass(frozen=True)
class ReceivedAlert:
    """A witness alert another node signed and sent us (its evidence verified)."""

    id: int
    issuer: str
    peer: str
    kind: str
    detail: str
    issued_at: str
    received_at: str

    def to_json(self) -> dict[str, object]:
        return asdict(self)


def receive(
    conn: sqlite3.Connection,
    *,
    me: str,
    issuer: str,
    peer: str,
    kind: str,
    detail: str,
    issued_at: datetime,
    statement: bytes,
    evidence_sha256: str,
    now: datetime,
) -> bool:
    """Keep a verified statement once, audited; False when it was already held, or the
    same issuer already accused the same log of the same kind with the same evidence."""
    with transaction(conn):
        cursor = conn.execute(
            """INSERT OR IGNORE INTO witness_alerts_received (issuer, peer, kind, detail,
               issued_at, statement, statement_sha256, evidence_sha256, received_at)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            (issuer, peer, kind, detail, format_time(issued_at), statement,
             sha256_hex(statement), evidence_sha256, format_time(now)),
        )  # fmt: skip
        if cursor.rowcount == 0:
            return False
        audit.append(
            conn, at=now, authority=me, action="witness_alert_received", actor="system",
            peer=peer, issuer=issuer, alert=kind,
        )  # fmt: skip
        return True


_RECEIVED = (
    "SELECT id, issuer, peer, kind, detail, issued_at, received_at FROM witness_alerts_received"
)


def newest_received(
    conn: sqlite3.Connection, *, after: Position | None, limit: int
) -> Page[ReceivedAlert]:
    """A page of received alerts, newest first, after the ``(id,)`` key ``after``."""
    if after is None:
        rows = fetch_all(conn, f"{_RECEIVED} ORDER BY id DESC LIMIT ?", (limit + 1,))
    else:
        rows = fetch_all(
            conn, f"{_RECEIVED} WHERE id < ? ORDER BY id DESC LIMIT ?", (after[0], limit + 1)
        )
    return page_of([ReceivedAlert(**row) for row in rows], limit, lambda alert: (alert.id,))


def all_received(conn: sqlite3.Connection) -> list[tuple[ReceivedAlert, bytes]]:
    """Every received alert with the signed statement exactly as received, newest first
    (the audit bundle: an auditor verifies each statement elsewhere)."""
    rows = fetch_all(
        conn,
        "SELECT id, issuer, peer, kind, detail, issued_at, received_at, statement"
        " FROM witness_alerts_received ORDER BY id DESC",
    )
    return [
        (
            ReceivedAlert(**{k: v for k, v in row.items() if k != "statement"}),
            bytes(row["statement"]),
        )
        for row in rows
    ]


def received_counts(conn: sqlite3.Connection) -> dict[tuple[str, str], int]:
    """Received alerts per (watched peer, kind), for /metrics."""
    rows = conn.execute(
        "SELECT peer, kind, COUNT(*) FROM witness_alerts_received GROUP BY peer, kind"
    ).fetchall()
    return {(str(p), str(k)): int(n) for p, k, n in rows}


def raised_counts(conn: sqlite3.Connection) -> dict[tuple[str, str], int]:
    """Alerts this node raised as a witness per (watched peer, kind), for /metrics."""
    rows = conn.execute("SELECT peer, kind, COUNT(*) FROM witness_alerts GROUP BY peer, kind")
    return {(str(p), str(k)): int(n) for p, k, n in rows.fetchall()}
