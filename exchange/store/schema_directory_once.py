"""Migration 26 of store/schema.py (issue 17, kept apart so that schema.py stays
readable): the directory document held is stored once, in ``directory_history``.

``directory_state`` kept its own copy of the document that ``directory_history`` holds
under the same serial (``directory_cache.save`` writes both in one transaction): at
3,000 authorities, 3.8 MB written twice by every node at every update. The state now
keeps the serial (the rollback floor) and when it was loaded, and names its document
by that serial. A held document missing from the history (none should be) is copied
there first; SQLite drops a column only by rebuilding the table."""

from __future__ import annotations

DIRECTORY_ONCE: list[str] = [
    """INSERT OR IGNORE INTO directory_history (serial, document, installed_at)
       SELECT serial, document, loaded_at FROM directory_state""",
    """CREATE TABLE directory_state_25 (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        serial INTEGER NOT NULL REFERENCES directory_history (serial),
        loaded_at TEXT NOT NULL
    )""",
    "INSERT INTO directory_state_25 SELECT id, serial, loaded_at FROM directory_state",
    "DROP TABLE directory_state",
    "ALTER TABLE directory_state_25 RENAME TO directory_state",
]
