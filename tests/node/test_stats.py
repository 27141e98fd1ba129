"""Cooperation statistics from a seeded history match figures computed by hand."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from exchange.core.canonical import format_time
from exchange.core.clock import ManualClock
from exchange.core.stats import RequestRecord, summarize

from ..federation import ApiClient, Federation

T = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
S = timedelta(seconds=1)
H = timedelta(hours=1)
NOW = T + 48 * H

# (direction, peer, delivered, acknowledged, answered, deadline) after T
HISTORY: list[tuple[str, str, Any, Any, Any, Any]] = [
    ("out", "MA-CNA", 10 * S, 1 * H, 2 * H, 24 * H),  # answered on time
    ("out", "MA-CNA", 20 * S, 3 * H, 30 * H, 24 * H),  # answered late
    ("out", "MA-CNA", 30 * S, 2 * H, None, 24 * H),  # open, overdue now
    ("out", "MA-CNA", 40 * S, None, None, 100 * H),  # open, not due yet
    ("in", "SN-CNA", None, 30 * 60 * S, 1 * H, 8 * H),  # we answered on time
]
# By hand: delivery 10, 20, 30, 40 s -> median 25 s, p90 (nearest rank 4 of 4) 40 s.
# Acknowledged after 1, 3, 2 h -> median 2 h, p90 (3 of 3) 3 h. Answered after 2 h and
# 30 h -> median 16 h, p90 (2 of 2) 30 h. Judged 3 (two answered, one overdue), on time 1.
MA_OUT = {
    "group": "MA-CNA",
    "direction": "out",
    "requests": 4,
    "delivery_p50_s": 25.0,
    "delivery_p90_s": 40.0,
    "acknowledge_p50_s": 7200.0,
    "acknowledge_p90_s": 10800.0,
    "answer_p50_s": 57600.0,
    "answer_p90_s": 108000.0,
    "answered": 2,
    "on_time": 1,
    "judged": 3,
    "on_time_share": pytest.approx(1 / 3),
    "overdue_now": 1,
}
SN_IN = {
    "group": "SN-CNA",
    "direction": "in",
    "requests": 1,
    "delivery_p50_s": None,
    "delivery_p90_s": None,
    "acknowledge_p50_s": 1800.0,
    "acknowledge_p90_s": 1800.0,
    "answer_p50_s": 3600.0,
    "answer_p90_s": 3600.0,
    "answered": 1,
    "on_time": 1,
    "judged": 1,
    "on_time_share": 1.0,
    "overdue_now": 0,
}


def _at(delta: timedelta | None) -> datetime | None:
    return T + delta if delta is not None else None


def test_summary_by_peer_and_country() -> None:
    records = [
        RequestRecord(d, p, p[:2], T, _at(dl), _at(dv), _at(ack), _at(ans))
        for d, p, dv, ack, ans, dl in HISTORY
    ]
    rows = summarize(records, by="peer", now=NOW)
    assert [(r.group, r.direction) for r in rows] == [("MA-CNA", "out"), ("SN-CNA", "in")]
    assert {k: getattr(rows[0], k) for k in MA_OUT} == MA_OUT
    assert {k: getattr(rows[1], k) for k in SN_IN} == SN_IN
    by_country = summarize(records, by="country", now=NOW)
    assert [(r.group, r.requests) for r in by_country] == [("MA", 4), ("SN", 1)]


def _seed(conn: Any) -> None:
    for direction, peer, delivered, acked, answered, deadline in HISTORY:
        answered_at = _at(answered)
        status = "answered" if answered_at else ("acknowledged" if acked else "delivered")
        conn.execute(
            """INSERT INTO requests (id, origin, msg_id, direction, counterpart, kind, urgency,
               language, status, created_by, created_at, updated_at, deadline, delivered_at,
               acknowledged_at, answered_at) VALUES (?, ?, ?, ?, ?, 'information_request',
               'urgent', 'en', ?, 'investigator', ?, ?, ?, ?, ?, ?)""",
            (
                str(uuid.uuid4()),
                "ES-CNA" if direction == "out" else peer,
                uuid.uuid4().hex,
                direction,
                peer,
                status,
                format_time(T),
                format_time(T),
                format_time(T + deadline),
                *(format_time(m) if m else None for m in (_at(delivered), _at(acked), answered_at)),
            ),
        )


async def test_stats_api_csv_and_chart(tmp_path: Path) -> None:
    fed = Federation.create(tmp_path, ["ES-CNA", "MA-CNA", "SN-CNA"], clock=ManualClock(NOW))
    await fed.start("ES-CNA")
    try:
        await fed["ES-CNA"].node.db.run(_seed)
        liaison = await ApiClient(fed["ES-CNA"]).login("liaison")
        period = f"from={format_time(T - H)}&to={format_time(NOW)}"
        status, body = await liaison.call("GET", f"/api/stats?{period}&by=peer")
        assert status == 200, body
        assert body["rows"] == [MA_OUT, SN_IN]
        status, body = await liaison.call("GET", f"/api/stats?{period}&by=country")
        assert [(r["group"], r["requests"]) for r in body["rows"]] == [("MA", 4), ("SN", 1)]
        # a period that ends before the history holds nothing
        status, body = await liaison.call("GET", f"/api/stats?to={format_time(T)}")
        assert status == 200 and body["rows"] == []

        status, text = await liaison.call("GET", f"/api/stats.csv?{period}")
        assert status == 200
        rows = list(csv.DictReader(io.StringIO(text.decode())))
        assert [r["group"] for r in rows] == ["MA-CNA", "SN-CNA"]
        assert rows[0]["answer_p90_s"] == "108000.000" and rows[0]["on_time_share"] == "0.333"
        assert rows[1]["delivery_p50_s"] == ""

        status, svg = await liaison.call("GET", f"/api/stats.svg?{period}")
        assert status == 200 and svg.startswith(b"<svg") and b"MA-CNA (4)" in svg
        assert b"16.0 h / 30.0 h" in svg and b"<script" not in svg

        status, body = await liaison.call("GET", "/api/stats?by=planet")
        assert status == 400 and body["error"]["code"] == "malformed"
        status, body = await liaison.call(
            "GET", f"/api/stats?from={format_time(NOW)}&to={format_time(T)}"
        )
        assert status == 400
        await liaison.close()
        for role in ("investigator", "auditor"):
            other = await ApiClient(fed["ES-CNA"]).login(role)
            status, _ = await other.call("GET", "/api/stats")
            assert status == 403
            await other.close()
    finally:
        await fed.stop()
