"""Nodes whose clocks differ by a few minutes still exchange, receipt and agree on
deadlines; beyond the allowed skew (5 minutes) calls are refused with a clear
code and retried, never silently accepted."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from exchange.core.canonical import format_time
from exchange.core.clock import SystemClock
from exchange.core.peer_auth import MAX_SKEW

from ..federation import ApiClient, Federation, wait_until

REQUEST = {"to": "MA-CNA", "kind": "information_request", "urgency": "emergency",
           "subject": "Skew", "body": "Clocks differ", "language": "en"}  # fmt: skip


class SkewedClock(SystemClock):
    def __init__(self, offset: timedelta) -> None:
        self.offset = offset

    def now(self) -> datetime:
        return super().now() + self.offset


async def _rows(member: Any, sql: str) -> list[tuple[Any, ...]]:
    return await member.node.db.run(lambda c: c.execute(sql).fetchall())


async def test_a_few_minutes_of_skew_changes_nothing(tmp_path: Path) -> None:
    fed = Federation.create(tmp_path, ["ES-CNA", "MA-CNA"])
    fed.clocks["MA-CNA"] = SkewedClock(timedelta(minutes=2, seconds=30))  # runs ahead
    fed.clocks["ES-CNA"] = SkewedClock(timedelta(minutes=-1))
    await fed.start()
    es, ma = fed["ES-CNA"], fed["MA-CNA"]
    try:
        investigator = await ApiClient(es).login("investigator")
        status, created = await investigator.call("POST", "/api/requests", REQUEST)
        assert status == 201
        liaison = await ApiClient(ma).login("liaison")

        async def incoming() -> str:
            _, inbox = await liaison.call("GET", "/api/inbox")
            return str(inbox["requests"][0]["id"]) if inbox["requests"] else ""

        rid = await wait_until(incoming, what="delivered despite the skew")
        assert (await liaison.call("POST", f"/api/requests/{rid}/acknowledge"))[0] == 200
        assert (await liaison.call("POST", f"/api/requests/{rid}/responses", {"body": "ok"}))[
            0
        ] == 200

        async def answered() -> bool:
            _, view = await investigator.call("GET", f"/api/requests/{created['id']}")
            return bool(view["status"] == "answered")

        await wait_until(answered, what="answered despite the skew")
        # the same absolute deadline on both sides, and the same verdict
        es_row = await _rows(es, "SELECT deadline, answered_at FROM requests")
        ma_row = await _rows(ma, "SELECT deadline, answered_at FROM requests")
        assert es_row[0][0] == ma_row[0][0]
        _, es_view = await investigator.call("GET", "/api/deadlines")
        _, ma_view = await liaison.call("GET", "/api/deadlines")
        assert es_view["deadlines"][0]["state"] == ma_view["deadlines"][0]["state"] == "met"
        # the answer time at ES is its own arrival time, on ES's clock
        assert es_row[0][1] <= format_time(fed.clocks["ES-CNA"].now())  # never in ES's future
        for client in (investigator, liaison):
            await client.close()
    finally:
        await fed.stop()


async def test_skew_beyond_the_allowance_is_refused_and_retried(tmp_path: Path) -> None:
    fed = Federation.create(tmp_path, ["ES-CNA", "MA-CNA"])
    fed.clocks["ES-CNA"] = SkewedClock(MAX_SKEW + timedelta(minutes=2))
    await fed.start()
    es = fed["ES-CNA"]
    try:
        investigator = await ApiClient(es).login("investigator")
        status, _ = await investigator.call("POST", "/api/requests", REQUEST)
        assert status == 201

        async def refused() -> str:
            rows = await _rows(es, "SELECT last_error FROM outbox WHERE state = 'pending'")
            return str(rows[0][0]) if rows and rows[0][0] else ""

        assert await wait_until(refused, what="the skewed call refused") == "unauthorized"
        assert await _rows(fed["MA-CNA"], "SELECT id FROM requests") == []
        await investigator.close()
    finally:
        await fed.stop()
