"""Lists never hide a row: every witness alert other nodes sent us is reachable,
through the API a page at a time, through the auditor's own page, and in the bundle."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from exchange.store import witness_statements

from ..federation import ApiClient, Federation
from ..ui.test_page_security import Browser
from .test_deadline_paging import _flat, _follow_pages, _walk


@pytest.fixture
async def fed(tmp_path: Path) -> AsyncIterator[Federation]:
    fed = Federation.create(tmp_path, ["ES-CNA", "MA-CNA"])
    await fed.start()
    yield fed
    await fed.stop()


async def test_every_received_witness_alert_is_listed_and_in_the_bundle(fed: Federation) -> None:
    node = fed["ES-CNA"].node

    def write(c: Any) -> None:
        for i in range(230):
            witness_statements.receive(
                c, me=node.me, issuer="MA-CNA", peer=("PT-PJ", "SN-CNA")[i % 2], kind="shrunk",
                detail=f"received-{i}", issued_at=node.clock.now(),
                statement=f'{{"n": {i}}}'.encode(), evidence_sha256=f"{i:064x}",
                now=node.clock.now(),
            )  # fmt: skip

    await node.db.run(write)
    newest_first = [f"received-{i}" for i in reversed(range(230))]
    auditor = await ApiClient(fed["ES-CNA"]).login("auditor")
    admin = await ApiClient(fed["ES-CNA"]).login("admin")
    browser = Browser(fed["ES-CNA"])
    try:
        pages = await _walk(auditor, "/api/audit/received-alerts?limit=100", "alerts")
        assert [len(p) for p in pages] == [100, 100, 30]
        assert _flat(pages, "detail") == newest_first
        assert _flat(await _walk(admin, "/api/audit/received-alerts", "alerts"), "detail") == (
            newest_first
        )
        status, bundle = await auditor.call("GET", "/api/audit/bundle")
        assert status == 200
        kept = bundle["received_witness_alerts"]
        assert [a["detail"] for a in kept] == newest_first
        assert kept[0]["statement"] == '{"n": 229}'
        # a cursor of this list is refused by another list, not misread
        status, first = await auditor.call("GET", "/api/audit/received-alerts?limit=2")
        assert status == 200 and first["next"]
        status, body = await auditor.call("GET", f"/api/audit/alerts?cursor={first['next']}")
        assert status == 400 and body["error"]["code"] == "malformed", body
        await browser.login("auditor")
        status, page, _ = await browser.get("/audit")
        assert status == 200 and 'id="all-received-alerts"' in page
        assert re.findall(r" · (received-\d+) · ", page) == newest_first[:10]
        shown = await _follow_pages(
            browser,
            "/audit/received-alerts",
            100,
            rows=lambda page: re.findall(r" · (received-\d+) · ", page),
        )
        assert shown == newest_first
    finally:
        await auditor.close()
        await admin.close()
        await browser.close()
