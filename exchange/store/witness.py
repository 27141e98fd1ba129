"""What this node, as a witness, has verified and cosigned of each log it watches
(compare-and-swap on (size, root)), and the alerts it raised (a fork or a shrinking
log). An alert and its audit entry commit together."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from ..core.canonical import format_time
from ..core.cursor import Position
from ..core.errors import OldSizeMismatch
from . import audit
from .db import fetch_all, fetch_one, transaction
from .paging import Page, page_of


@dataclass(frozen=True)
class LogView:
    """What this witness holds of one log: the latest checkpoint it verified (the log's
    signed note) and, once it cosigned it, its cosignature line and when."""

    origin: str
    size: int
    root: bytes
    note: str
    cosignature: str | None
    cosigned_at: str | None
    updated_at: str


_VIEW = "SELECT origin, size, root, note, cosignature, cosigned_at, updated_at FROM witness_views"


def log_view(conn: sqlite3.Connection, origin: str) -> LogView | None:
    row = fetch_one(conn, f"{_VIEW} WHERE origin = ?", (origin,))
    return None if row is None else _view(row)


def all_views(conn: sqlite3.Connection) -> list[LogView]:
    return [_view(row) for row in fetch_all(conn, f"{_VIEW} ORDER BY origin")]


def _view(row: Mapping[str, Any]) -> LogView:
    return LogView(**{**row, "root": bytes(row["root"]), "size": int(row["size"])})


def swap(
    conn: sqlite3.Connection,
    *,
    origin: str,
    expected: tuple[int, bytes] | None,
    size: int,
    root: bytes,
    note: str,
    cosignature: str | None,
    now: datetime,
) -> None:
    """Compare-and-swap the view of ``origin``: written only if it still holds the
    ``(size, root)`` the caller read (``None``: no view yet), never to a smaller size;
    otherwise ``OldSizeMismatch`` carrying the size held, and nothing written."""
    with transaction(conn):
        current = log_view(conn, origin)
        held = (current.size, current.root) if current is not None else None
        if held != expected:
            raise OldSizeMismatch(
                "the witness's view of this log changed meanwhile",
                size=current.size if current is not None else 0,
            )
        if current is not None and size < current.size:
            raise ValueError("a witness view never moves back")
        conn.execute(
            """INSERT INTO witness_views
               (origin, size, root, note, cosignature, cosigned_at, updated_at)
               VALUES (?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT (origin) DO UPDATE SET size = excluded.size, root = excluded.root,
               note = excluded.note, cosignature = excluded.cosignature,
               cosigned_at = excluded.cosigned_at, updated_at = excluded.updated_at""",
            (
                origin,
                size,
                root,
                note,
                cosignature,
                format_time(now) if cosignature is not None else None,
                format_time(now),
            ),
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
        (alert_id,) = conn.execute(
            "INSERT INTO witness_alerts (peer, kind, detail, evidence, at) VALUES (?, ?, ?, ?, ?)"
            " RETURNING id",  # both engines (PostgreSQL has no lastrowid)
            (peer, kind, detail, json.dumps(evidence, sort_keys=True), format_time(now)),
        ).fetchone()
        audit.append(
            conn,
            at=now,
            authority=me,
            action="witness_alert",
            actor="system",
            peer=peer,
            alert=kind,
        )
        return int(alert_id)


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
