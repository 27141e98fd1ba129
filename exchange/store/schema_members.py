"""Migration 21 of store/schema.py (kept apart so that schema.py stays readable):
``case_members.state`` takes ``removed``, a member the case's origin removed (issue 16).
SQLite changes a CHECK only by rebuilding the table; nothing references it."""

from __future__ import annotations

MEMBERS_REMOVED: list[str] = [
    """CREATE TABLE case_members_21 (
        case_id TEXT NOT NULL REFERENCES cases (id),
        authority TEXT NOT NULL,
        state TEXT NOT NULL
            CHECK (state IN ('invited', 'member', 'declined', 'left', 'removed')),
        since TEXT NOT NULL,
        PRIMARY KEY (case_id, authority)
    )""",
    "INSERT INTO case_members_21 SELECT case_id, authority, state, since FROM case_members",
    "DROP TABLE case_members",
    "ALTER TABLE case_members_21 RENAME TO case_members",
]
