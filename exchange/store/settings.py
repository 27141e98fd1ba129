"""The node's effective settings: a change between two starts is an audit entry."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime

from ..core.canonical import JsonObject, canonical_json, format_time, sha256_hex
from . import audit
from .db import fetch_one, transaction


def record_settings(
    conn: sqlite3.Connection, *, me: str, settings: JsonObject, actor: str, now: datetime
) -> list[str] | None:
    """Store ``settings``; return the changed top-level sections (None: first run or same)."""
    text = canonical_json(settings).decode()
    digest = sha256_hex(text.encode())
    with transaction(conn):
        row = fetch_one(conn, "SELECT settings, sha256 FROM settings_state WHERE id = 1")
        if row is not None and row["sha256"] == digest:
            return None
        conn.execute(
            "INSERT INTO settings_state (id, settings, sha256, recorded_at) VALUES (1, ?, ?, ?)"
            " ON CONFLICT (id) DO UPDATE SET settings = excluded.settings,"
            " sha256 = excluded.sha256, recorded_at = excluded.recorded_at",
            (text, digest, format_time(now)),
        )
        if row is None:
            return None  # the first start: nothing changed yet
        before = json.loads(row["settings"])
        changed = sorted(k for k in set(before) | set(settings) if before.get(k) != settings.get(k))
        audit.append(
            conn,
            at=now,
            authority=me,
            action="settings_changed",
            actor=actor,
            sections=changed,
            settings_sha256=digest,
            previous_sha256=row["sha256"],
        )
        return changed
