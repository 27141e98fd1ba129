"""Spontaneous information is never tracked by the deadline sweep, even a row stored
before it stopped taking deadlines (issue 16, item 6): no state, no escalation, no
place in the deadline lists; a request beside it with the same deadline is."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from exchange.core.deadlines import DeadlinePolicy
from exchange.core.vault import Vault, new_storage_key
from exchange.store import deadlines, inbound
from exchange.store.deadline_lists import DeadlineFilter, by_time_left

from ..storage import connect
from .request_rows import arrival, issue

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
H = timedelta(hours=1)
POLICY = DeadlinePolicy(due_soon_fraction=0.25, due_soon_before={}, acknowledge_within={})


def test_an_older_spontaneous_row_with_a_deadline_is_not_tracked(tmp_path: Path) -> None:
    conn = connect(tmp_path / "t.db")
    both = [arrival(sender="ES-CNA", created_at=NOW - 48 * H, deadline=NOW - H) for _ in "ab"]
    inbound.receive_all(
        conn, Vault(new_storage_key()), me="MA-CNA", arrivals=both, now=NOW - 48 * H, issue=issue
    )
    spontaneous, request = (a.new_request_id for a in both)
    conn.execute(  # as stored before this rule: spontaneous information with a deadline
        "UPDATE requests SET kind = 'spontaneous_information' WHERE id = ?", (spontaneous,)
    )
    result = deadlines.sweep(conn, me="MA-CNA", policy=POLICY, now=NOW)
    assert {e.request_id for e in result.escalated} == {request}
    listed = by_time_left(conn, DeadlineFilter(), policy=POLICY, now=NOW, after=None, limit=10)
    assert [r.request_id for r in listed.rows] == [request]
    conn.close()
