"""Migration 25 of store/schema.py (kept apart, as schema.py is at the size limit):
leases on background duties (active-active, store/leases.py). A row is never deleted:
its ``fence`` only grows, so a write fenced by an old holder's number fails forever.
``expires_at`` is in milliseconds since the epoch (an integer compares the same on
every engine)."""

from __future__ import annotations

LEASES: list[str] = [
    "CREATE TABLE leases (duty TEXT PRIMARY KEY, holder TEXT NOT NULL, expires_at"
    " INTEGER NOT NULL, fence INTEGER NOT NULL, acquired_at INTEGER NOT NULL)",
]
