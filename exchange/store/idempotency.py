"""Idempotency keys (migration 22): a user's key, recorded in the transaction of the
state change it guards, and the first answer, kept sealed at rest until the key expires.

A ``Claim`` is bound through ``db.WRITE_CLAIM``: the first job of the HTTP request that
changes the database records it in its own transaction (``db._Claiming``), with the
audit entries that transaction appended. A second claim of the same user and key meets
the primary key and rolls its whole transaction back: nothing is created twice, even
by two processes on one database.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from datetime import datetime

from ..core.audit_entry import decode_entry
from ..core.canonical import JsonObject, format_time
from ..core.errors import IdempotencyInProgress
from ..core.vault import Vault
from . import audit
from .db import fetch_one


def record(username: str, key: str) -> str:
    """The vault record name of a kept answer (its associated data)."""
    return f"idempotency:{username}:{key}"


@dataclass
class Claim:
    """The key of the HTTP request being served, until its first write binds it."""

    username: str
    key: str
    fingerprint: str
    at: datetime
    expires_at: datetime
    bound: bool = field(default=False)

    def mark(self, conn: sqlite3.Connection) -> int:
        return audit.size(conn)

    def bind(self, conn: sqlite3.Connection, mark: int) -> None:
        # an expired use of the key, not collected yet, gives way (find ignores it)
        conn.execute(
            "DELETE FROM idempotency_keys WHERE username = ? AND key = ? AND expires_at <= ?",
            (self.username, self.key, format_time(self.at)),
        )
        try:
            conn.execute(
                """INSERT INTO idempotency_keys (username, key, fingerprint, created_at,
                   expires_at, audit_from, audit_to) VALUES (?, ?, ?, ?, ?, ?, ?)""",
                (
                    self.username,
                    self.key,
                    self.fingerprint,
                    format_time(self.at),
                    format_time(self.expires_at),
                    mark,
                    audit.size(conn),
                ),
            )
        except sqlite3.IntegrityError:
            raise IdempotencyInProgress("another request with this key ran meanwhile") from None


@dataclass(frozen=True)
class Answer:
    """The first answer to a key: status, content type, Location and body."""

    status: int
    content_type: str
    location: str | None
    body: bytes


@dataclass(frozen=True)
class KeyRow:
    """A claimed key: what it guarded, and its first answer if that was kept (None:
    the node stopped between the commit and the answer)."""

    fingerprint: str
    created_at: str
    answer: Answer | None
    created: list[JsonObject]  # the audit entries its transaction appended (metadata)


def find(
    conn: sqlite3.Connection, vault: Vault, username: str, key: str, now: datetime
) -> KeyRow | None:
    """The user's key, unless it has expired (an expired key is free again)."""
    row = fetch_one(
        conn,
        """SELECT fingerprint, created_at, audit_from, audit_to, status, answer_key, answer
           FROM idempotency_keys WHERE username = ? AND key = ? AND expires_at > ?""",
        (username, key, format_time(now)),
    )
    if row is None:
        return None
    answer = None
    if row["status"] is not None:
        plain = vault.open(row["answer_key"], row["answer"], record=record(username, key))
        kept = json.loads(plain)
        answer = Answer(
            status=int(row["status"]),
            content_type=kept["content_type"],
            location=kept["location"],
            body=kept["body"].encode("utf-8"),
        )
    entries = audit.entries(conn, row["audit_from"], row["audit_to"])
    created = [decode_entry(entry) for _, entry in entries]
    return KeyRow(row["fingerprint"], row["created_at"], answer, created)


def keep_answer(conn: sqlite3.Connection, vault: Vault, claim: Claim, answer: Answer) -> None:
    """The first answer, sealed, beside the claim its transaction recorded."""
    plain = json.dumps(
        {
            "content_type": answer.content_type,
            "location": answer.location,
            "body": answer.body.decode("utf-8", errors="replace"),
        }
    ).encode()
    wrapped, sealed = vault.seal(plain, record=record(claim.username, claim.key))
    conn.execute(
        """UPDATE idempotency_keys SET status = ?, answer_key = ?, answer = ?
           WHERE username = ? AND key = ? AND status IS NULL""",
        (answer.status, wrapped, sealed, claim.username, claim.key),
    )


def collect(conn: sqlite3.Connection, now: datetime) -> int:
    """Delete the keys past their expiry; returns how many went."""
    cursor = conn.execute("DELETE FROM idempotency_keys WHERE expires_at <= ?", (format_time(now),))
    return cursor.rowcount
