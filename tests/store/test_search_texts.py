"""The search index's catch-up reads only what was stored since its last read: its
marks move past every row read, named or not, of an indexed type or not. (A mark that
stopped at the last row it indexed made every search read again every implicit case
opened since: at 200,000 requests, 75 % of a search's time.)"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from exchange.core.cases import CaseFields, case_fields
from exchange.core.vault import Vault, new_storage_key
from exchange.store import cases, search_texts
from exchange.store.cases import NewCase
from exchange.store.db import migrate, transaction
from exchange.store.requests import NewRequest, create_requests

from .request_rows import sent

NOW = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
UNNAMED = CaseFields(title=None, reference=None, offences=(), route=())


def case_id(n: int) -> str:
    return f"0190c6c2-0000-7000-8000-{n:012d}"


def test_the_case_mark_moves_past_implicit_cases(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "t.db", isolation_level=None)
    migrate(conn)
    vault = Vault(new_storage_key())
    named = case_fields({"title": "Boat from Nador", "reference": "R-1", "offences": ["other"]})
    cases.open_case(conn, vault, me="ES-CNA", case=NewCase(case_id(1), named, "inv", NOW))
    with transaction(conn):
        for n in range(2, 6):  # opened by requests: no title, no reference
            cases.insert_case(conn, vault, NewCase(case_id(n), UNNAMED, "inv", NOW, True))
    last = conn.execute("SELECT MAX(rowid) FROM cases").fetchone()[0]

    first = search_texts.case_texts(conn, vault, after=0)
    assert [key[1] for key, _ in first.cases] == [case_id(1)]
    assert {"boat", "nador", "r", "1"} <= first.cases[0][1]
    assert first.mark == last and not first.more  # past the four implicit cases
    again = search_texts.case_texts(conn, vault, after=first.mark)
    assert again.cases == [] and again.mark == last

    # a batch of implicit cases only still moves the mark (the old code kept it)
    small = search_texts.case_texts(conn, vault, after=first.mark - 2, limit=1)
    assert small.cases == [] and small.mark == first.mark - 1 and small.more


def test_the_message_mark_moves_past_messages_it_does_not_index(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "t.db", isolation_level=None)
    migrate(conn)
    vault = Vault(new_storage_key())
    request = NewRequest(case_id(99), sent(to="MA-CNA", at=NOW, deadline=None), "inv", NOW)
    create_requests(conn, [request], vault=vault, me="ES-CNA")
    found = search_texts.request_texts(conn, vault, after=0)
    assert [key[1] for key, _ in found.requests] == [case_id(99)]
    # a message of a type search does not read (a receipt's status message, say)
    with transaction(conn):
        conn.execute(
            "INSERT INTO messages (request_id, msg_id, sender, recipient, type, created_at)"
            " VALUES (?, 'm-other', 'MA-CNA', 'ES-CNA', 'status', ?)",
            (case_id(99), "2026-12-01T10:00:01.000000Z"),
        )
    last = conn.execute("SELECT MAX(id) FROM messages").fetchone()[0]
    later = search_texts.request_texts(conn, vault, after=found.mark)
    assert later.requests == [] and later.mark == last > found.mark
