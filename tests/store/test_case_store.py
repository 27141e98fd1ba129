"""The cases migration files every existing request that left draft status in an
implicit case of its own (under the request's id); drafts are filed when sent. A
request is stored only in an open case of its author's."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from exchange.core.cases import case_fields
from exchange.core.errors import CaseClosed, UnknownCase
from exchange.core.vault import Vault, new_storage_key
from exchange.store import cases
from exchange.store.cases import NewCase
from exchange.store.db import migrate, row_dict
from exchange.store.requests import NewRequest, create_requests
from exchange.store.schema import MIGRATIONS

from .request_rows import sent

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


def test_a_case_closed_after_the_check_takes_nothing(tmp_path: Path) -> None:
    """The service checks a case before sealing; the store checks it again in the
    transaction that stores the request, so a case closed in between takes nothing."""
    conn = sqlite3.connect(tmp_path / "t.db", isolation_level=None)
    migrate(conn)
    vault = Vault(new_storage_key())
    now = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    fields = case_fields({"title": "Route", "reference": "R-1", "offences": ["other"]})
    case = NewCase("0190c6c2-0000-7000-8000-00000000000a", fields, "investigator", now)
    cases.open_case(conn, vault, me="ES-CNA", case=case)
    cases.close_case(conn, vault, me="ES-CNA", case_id=case.id, actor="investigator", now=now)

    def count() -> tuple[int, ...]:
        tables = ("requests", "messages", "outbox", "audit_entries")
        return tuple(conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in tables)  # noqa: S608

    before = count()
    for case_id, actor, refusal in (
        (case.id, "investigator", CaseClosed),
        (case.id, "colleague", UnknownCase),  # another's case: as if it did not exist
        ("0190c6c2-0000-7000-8000-00000000000b", "investigator", UnknownCase),
    ):
        new = NewRequest(
            "0190c6c2-0000-7000-8000-0000000000ff",
            sent(to="MA-CNA", at=now, deadline=None),
            actor,
            now,
            case_id=case_id,
        )
        with pytest.raises(refusal):
            create_requests(conn, [new], vault=vault, me="ES-CNA")
        assert count() == before
