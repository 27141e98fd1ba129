"""Lists at a million requests (issue 17, migration 24): every filter of the requests
list and of the case board is read through an index in the list's order, so a page
after any cursor is a range scan whatever the filter's value (a rare status or
authority included), never a walk through every row nor a sort of a whole list. The
query plans are SQLite's own (EXPLAIN QUERY PLAN of the statements the lists run)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from exchange.core.vault import Vault, new_storage_key
from exchange.store import case_lists, request_lists
from exchange.store.case_lists import CaseFilter
from exchange.store.db import migrate
from exchange.store.request_lists import RequestFilter

AFTER = ("2026-01-01T00:00:00.000000Z", "01000000-0000-7000-8000-000000000000")


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(tmp_path / "t.db", isolation_level=None)
    migrate(conn)
    yield conn
    conn.close()


def _plans(conn: sqlite3.Connection, run: Callable[[], object]) -> list[str]:
    executed: list[str] = []
    conn.set_trace_callback(executed.append)
    try:
        run()
    finally:
        conn.set_trace_callback(None)
    return [
        " / ".join(row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql))
        for sql in executed
        if sql.lstrip().startswith("SELECT") and "COUNT(*)" not in sql
    ]


@pytest.mark.parametrize(
    ("wanted", "author", "index"),
    [
        (RequestFilter(), None, "requests_newest"),
        (RequestFilter(status="rejected"), None, "requests_status_newest"),
        (RequestFilter(peer="XX-CNA"), None, "requests_counterpart_newest"),
        (RequestFilter(kind="spontaneous_information"), None, "requests_kind_newest"),
        (RequestFilter(urgency="emergency"), None, "requests_urgency_newest"),
        (RequestFilter(direction="out"), "someone", "requests_creator_newest"),
    ],
)
def test_every_requests_filter_pages_through_an_index_in_order(
    conn: sqlite3.Connection, wanted: RequestFilter, author: str | None, index: str
) -> None:
    for after in (None, AFTER):
        (plan,) = _plans(
            conn,
            lambda after=after: request_lists.newest_first(
                conn, wanted, drafts_of="x", author=author, after=after, limit=100
            ),
        )
        used = plan.split(" USING INDEX ")[1].split()[0] if " USING INDEX " in plan else ""
        assert used == index and "TEMP B-TREE" not in plan, plan


@pytest.mark.parametrize(
    ("wanted", "created_by", "index"),
    [
        (CaseFilter(), None, "cases_newest"),
        (CaseFilter(status="closed"), None, "cases_status_newest"),
        (CaseFilter(), "someone", "cases_creator_newest"),
        (CaseFilter(shared=True), None, "cases_shared_newest"),
    ],
)
def test_every_case_board_filter_pages_through_an_index_in_order(
    conn: sqlite3.Connection, wanted: CaseFilter, created_by: str | None, index: str
) -> None:
    vault = Vault(new_storage_key())
    for after in (None, AFTER):
        (plan,) = _plans(
            conn,
            lambda after=after: case_lists.newest_first(
                conn, vault, wanted, created_by=created_by, after=after, limit=100
            ),
        )
        used = plan.split(" USING INDEX ")[1].split()[0] if " USING INDEX " in plan else ""
        assert used == index and "TEMP B-TREE" not in plan, plan


def test_few_cases_of_an_authority_are_found_through_its_requests(
    conn: sqlite3.Connection,
) -> None:
    """An authority with few requests (none here): its cases come from the requests'
    index, not from a walk through every case probing each one's requests."""
    vault = Vault(new_storage_key())
    (plan,) = _plans(
        conn,
        lambda: case_lists.newest_first(
            conn, vault, CaseFilter(authority="XX-CNA"), created_by=None, after=None, limit=100
        ),
    )
    assert "requests_counterpart_newest" in plan and "SCAN cases" not in plan, plan
