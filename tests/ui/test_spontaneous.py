"""Spontaneous information in the web UI (issue 16, item 6): composed as a kind of its
own, its page says no answer is expected, and its recipient is offered an
acknowledgement, not an answer or a rejection."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ..federation import Federation, wait_until
from .test_page_security import Browser

FORM = {
    "to": "MA-CNA",
    "kind": "spontaneous_information",
    "urgency": "urgent",
    "language": "en",
    "subject": "A boat leaves tonight",
    "body": "Thirty people, a blue cayuco.",
    "deadline": "",
    "action": "send",
}


@pytest.fixture
async def fed(tmp_path: Path) -> AsyncIterator[Federation]:
    fed = Federation.create(tmp_path, ["ES-CNA", "MA-CNA"])
    await fed.start()
    yield fed
    await fed.stop()


async def test_spontaneous_information_pages(fed: Federation) -> None:
    es, ma = Browser(fed["ES-CNA"]), Browser(fed["MA-CNA"])
    try:
        await es.login("investigator")
        _, html, _ = await es.get("/compose")
        assert "Spontaneous information (UNTOC art. 18(4))" in html
        assert 'id="deadline-field"' in html and 'id="no-deadline-hint"' in html
        status, _, headers = await es.post_multipart(
            "/compose", {"csrf_token": es.csrf(html), **FORM}
        )
        assert status == 303, headers
        sent_id = str(headers["Location"]).split("/requests/")[1].split("?")[0]
        _, page, _ = await es.get(f"/requests/{sent_id}")
        assert "Spontaneous information — no answer expected" in page

        def received(conn: sqlite3.Connection) -> str | None:
            row = conn.execute("SELECT id FROM requests WHERE direction = 'in'").fetchone()
            return None if row is None else str(row[0])

        async def arrived() -> bool:
            return await fed["MA-CNA"].node.db.run(received) is not None

        await wait_until(arrived, what="the information at MA")
        there = await fed["MA-CNA"].node.db.run(received)
        await ma.login("liaison")
        _, page, _ = await ma.get(f"/requests/{there}")
        assert "Spontaneous information — no answer expected" in page
        assert f'action="/requests/{there}/acknowledge"' in page
        assert f'action="/requests/{there}/answer"' not in page
        assert f'action="/requests/{there}/reject"' not in page
        # the board filters by kind
        _, board, _ = await ma.get("/requests?kind=spontaneous_information")
        assert 'id="f-kind"' in board and f"/requests/{there}" in board
        _, board, _ = await ma.get("/requests?kind=information_request")
        assert f"/requests/{there}" not in board
    finally:
        await es.close()
        await ma.close()
