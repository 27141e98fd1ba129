"""What this node, as a witness, has verified of each peer's log, and the
alerts it raised (a fork or a shrinking log). An alert and its audit entry
commit together."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from ..core.canonical import format_time
from ..core.cursor import Position
from . import audit
from .db import fetch_all, fetch_one, transaction
from .paging import Page, page_of


@dataclass(frozen=True)
class PeerView:
    peer: str
    size: int
    root: bytes
    note: str


def view(conn: sqlite3.Connection, peer: str) -> PeerView | None:
    row = fetch_one(
        conn, "SELECT peer, size, root, note FROM witness_peers WHERE peer = ?", (peer,)
    )
    if row is None:
        return None
    return PeerView(str(row["peer"]), int(row["size"]), bytes(row["root"]), str(row["note"]))


def advance(
    conn: sqlite3.Connection, *, peer: str, size: int, root: bytes, note: str, now: datetime
) -> None:
    """Record a checkpoint proven consistent with the previous view (never moves back)."""
    with transaction(conn):
        current = view(conn, peer)
        if current is not None and current.size > size:
            raise ValueError("a witness view never moves back")
        conn.execute(
            """INSERT INTO witness_peers (peer, size, root, note, seen_at) VALUES (?, ?, ?, ?, ?)
               ON CONFLICT (peer) DO UPDATE SET size = excluded.size, root = excluded.root,
               note = excluded.note, seen_at = excluded.seen_at""",
            (peer, size, root, note, format_time(now)),
        )


def raise_alert(
    conn: sqlite3.Connection,
    *,
    me: str,
    peer: str,
    kind: str,
    detail: str,
    evidence: dict[str, str],
    now: datetime,
) -> int:
    """Store the alert with the evidence (both notes) and its entry in our own log."""
    with transaction(conn):
        cursor = conn.execute(
            "INSERT INTO witness_alerts (peer, kind, detail, evidence, at) VALUES (?, ?, ?, ?, ?)",
            (peer, kind, detail, json.dumps(evidence, sort_keys=True), format_time(now)),
        )
        audit.append(
            conn,
            at=now,
            authority=me,
            action="witness_alert",
            actor="system",
            peer=peer,
            alert=kind,
        )
        return int(cursor.lastrowid or 0)


@dataclass(frozen=True)
class WitnessAlert:
    """A peer's log seen to fork or shrink, with both signed notes as evidence."""

    id: int
    peer: str
    kind: str
    detail: str
    evidence: dict[str, str]  # {"previous": note, "presented": note}
    at: str

    def to_json(self) -> dict[str, object]:
        return asdict(self)


_ALERTS = "SELECT id, peer, kind, detail, evidence, at FROM witness_alerts"


def newest_alerts(
    conn: sqlite3.Connection, *, after: Position | None, limit: int
) -> Page[WitnessAlert]:
    """A page of alerts, newest first, after the ``(id,)`` key ``after`` (keyset:
    a range of the table's integer key)."""
    if after is None:
        rows = fetch_all(conn, f"{_ALERTS} ORDER BY id DESC LIMIT ?", (limit + 1,))
    else:
        rows = fetch_all(
            conn, f"{_ALERTS} WHERE id < ? ORDER BY id DESC LIMIT ?", (after[0], limit + 1)
        )
    return page_of([_alert(row) for row in rows], limit, lambda alert: (alert.id,))


def all_alerts(conn: sqlite3.Connection) -> list[WitnessAlert]:
    """Every alert, newest first (the audit bundle: the auditor's whole evidence)."""
    return [_alert(row) for row in fetch_all(conn, f"{_ALERTS} ORDER BY id DESC")]


def _alert(row: Mapping[str, Any]) -> WitnessAlert:
    return WitnessAlert(**{**row, "evidence": json.loads(row["evidence"])})


def alert_exists(conn: sqlite3.Connection, peer: str, kind: str, detail: str) -> bool:
    row = conn.execute(
        "SELECT 1 FROM witness_alerts WHERE peer = ? AND kind = ? AND detail = ? LIMIT 1",
        (peer, kind, detail),
    ).fetchone()
    return row is not None
