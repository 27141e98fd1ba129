"""The cases migration files every existing request that left draft status in an
implicit case of its own (under the request's id); drafts are filed when sent."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from exchange.store.db import migrate, row_dict
from exchange.store.schema import MIGRATIONS

CASES = next(i for i, m in enumerate(MIGRATIONS) if any("CREATE TABLE cases" in s for s in m))


def test_existing_requests_get_implicit_cases(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "old.db", isolation_level=None)
    conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    for number, statements in enumerate(MIGRATIONS[:CASES], start=1):
        for statement in statements:
            conn.execute(statement)
        conn.execute("INSERT INTO schema_version (version) VALUES (?)", (number,))
    insert = """INSERT INTO requests (id, origin, msg_id, direction, counterpart, kind, urgency,
        language, status, created_by, created_at, updated_at, erased_at)
        VALUES (?, 'ES-CNA', ?, ?, 'MA-CNA', 'information_request', 'urgent', 'en', ?, ?,
        '2026-11-01T10:00:00.000000Z', '2026-11-02T10:00:00.000000Z', ?)"""
    conn.execute(insert, ("r-out", "m1", "out", "delivered", "investigator", None))
    conn.execute(insert, ("r-in", "m2", "in", "received", None, "2026-11-20T00:00:00.000000Z"))
    conn.execute(insert, ("r-draft", "m3", "out", "draft", "investigator", None))

    assert migrate(conn) == len(MIGRATIONS)
    conn.row_factory = row_dict  # type: ignore[assignment]
    cases = conn.execute(
        "SELECT id, implicit, status, created_by, offences, route, names, erased_at"
        " FROM cases ORDER BY id"
    ).fetchall()
    assert cases == [
        {"id": "r-in", "implicit": 1, "status": "open", "created_by": None, "offences": "[]",
         "route": "[]", "names": None, "erased_at": "2026-11-20T00:00:00.000000Z"},
        {"id": "r-out", "implicit": 1, "status": "open", "created_by": "investigator",
         "offences": "[]", "route": "[]", "names": None, "erased_at": None},
    ]  # fmt: skip
    filed = conn.execute("SELECT id, case_id FROM requests ORDER BY id").fetchall()
    assert filed == [
        {"id": "r-draft", "case_id": None},
        {"id": "r-in", "case_id": "r-in"},
        {"id": "r-out", "case_id": "r-out"},
    ]
