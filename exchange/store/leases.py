"""Leases on background duties (migration 25, schema_leases.py): acquire, renew,
release, each one transaction; and ``require``, the fence a duty's own write checks
inside its transaction. The rules are ``core.lease``'s; this module only reads and
writes rows, in statements SQLite and PostgreSQL both accept."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from ..core.lease import MEMBER, LeaseLost, LeaseRow, may_take
from .db import transaction

MEMBERS_KEPT = timedelta(minutes=1)  # an expired member row is deleted after this


def to_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def acquire(
    conn: sqlite3.Connection, duty: str, holder: str, now: datetime, ttl: timedelta
) -> LeaseRow | None:
    """Take ``duty`` for ``holder`` until ``now + ttl`` with a new fence number, or
    None if another process holds it."""
    with transaction(conn):
        row = read(conn, duty)
        if not may_take(row, holder, now):
            return None
        expires = to_ms(now + ttl)
        if row is None:
            conn.execute(
                "INSERT INTO leases (duty, holder, expires_at, fence, acquired_at)"
                " VALUES (?, ?, ?, 1, ?)",
                (duty, holder, expires, to_ms(now)),
            )
            fence = 1
        else:
            fence = row.fence + 1
            conn.execute(
                "UPDATE leases SET holder = ?, expires_at = ?, fence = ?, acquired_at = ?"
                " WHERE duty = ?",
                (holder, expires, fence, to_ms(now), duty),
            )
    return LeaseRow(duty, holder, from_ms(expires), fence)


def renew(
    conn: sqlite3.Connection,
    holder: str,
    held: Sequence[tuple[str, int]],
    now: datetime,
    ttl: timedelta,
) -> set[str]:
    """Move the expiry of each ``(duty, fence)`` held to ``now + ttl``, in one
    transaction; returns the duties renewed (a lease that expired or was taken over
    is not: its holder must have stopped)."""
    renewed: set[str] = set()
    expires, at = to_ms(now + ttl), to_ms(now)
    with transaction(conn):
        for duty, fence in held:
            cursor = conn.execute(
                "UPDATE leases SET expires_at = ? WHERE duty = ? AND holder = ? AND fence = ?"
                " AND expires_at > ?",
                (expires, duty, holder, fence, at),
            )
            if cursor.rowcount == 1:
                renewed.add(duty)
        # the member rows of processes gone a while (each start has its own row)
        conn.execute(
            "DELETE FROM leases WHERE duty LIKE ? AND expires_at < ?",
            (MEMBER + "%", to_ms(now - MEMBERS_KEPT)),
        )
    return renewed


def members(conn: sqlite3.Connection, now: datetime) -> list[tuple[str, datetime]]:
    """The processes alive now (an unexpired member row), each with its row's expiry."""
    rows = conn.execute(
        "SELECT holder, expires_at FROM leases WHERE duty LIKE ? AND expires_at > ?",
        (MEMBER + "%", to_ms(now)),
    ).fetchall()
    return [(str(h), from_ms(int(e))) for h, e in rows]


def release(conn: sqlite3.Connection, duty: str, holder: str, fence: int, now: datetime) -> bool:
    """Let the duty go now (the row stays: its fence number only grows)."""
    with transaction(conn):
        cursor = conn.execute(
            "UPDATE leases SET expires_at = ? WHERE duty = ? AND holder = ? AND fence = ?"
            " AND expires_at > ?",
            (to_ms(now), duty, holder, fence, to_ms(now)),
        )
        return cursor.rowcount == 1


def require(conn: sqlite3.Connection, duty: str, holder: str, fence: int, now: datetime) -> None:
    """Inside a duty's write transaction: raise ``LeaseLost`` (rolling it back) unless
    this holder still holds ``duty`` under ``fence``, unexpired."""
    if not conn.in_transaction:
        raise RuntimeError("a fenced write checks its lease inside its own transaction")
    row = conn.execute(
        "SELECT 1 FROM leases WHERE duty = ? AND holder = ? AND fence = ? AND expires_at > ?",
        (duty, holder, fence, to_ms(now)),
    ).fetchone()
    if row is None:
        raise LeaseLost(f"this process no longer holds the lease on {duty}")


def read(conn: sqlite3.Connection, duty: str) -> LeaseRow | None:
    row = conn.execute(
        "SELECT holder, expires_at, fence FROM leases WHERE duty = ?", (duty,)
    ).fetchone()
    return LeaseRow(duty, row[0], from_ms(row[1]), row[2]) if row is not None else None


def all_rows(conn: sqlite3.Connection) -> list[LeaseRow]:
    rows = conn.execute("SELECT duty, holder, expires_at, fence FROM leases ORDER BY duty")
    return [LeaseRow(d, h, from_ms(e), f) for d, h, e, f in rows.fetchall()]
