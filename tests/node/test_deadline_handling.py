"""The deadlines list shows each request's handling code like the other lists (issue
16): both sides' investigators and liaison prosecutors see it, in the API and on the
page; an admin, who reads no content, does not."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from ..federation import ApiClient, Federation, wait_until

H1 = {"code": "H1", "use_limitation": False, "confidential": True}
FORM = {"to": "MA-CNA", "kind": "information_request", "urgency": "urgent",
        "subject": "Boat", "body": "Who owns the boat?", "language": "en",
        "handling": H1}  # fmt: skip


@pytest.fixture
async def fed(tmp_path: Path) -> AsyncIterator[Federation]:
    fed = Federation.create(tmp_path, ["ES-CNA", "MA-CNA"])
    await fed.start()
    yield fed
    await fed.stop()


async def rows(client: ApiClient) -> list[dict[str, Any]]:
    status, page = await client.call("GET", "/api/deadlines")
    assert status == 200, page
    return list(page["deadlines"])


async def test_the_deadlines_list_shows_the_handling_code(fed: Federation) -> None:
    es = await ApiClient(fed["ES-CNA"]).login("investigator")
    ma = await ApiClient(fed["MA-CNA"]).login("liaison")
    admin = await ApiClient(fed["ES-CNA"]).login("admin")
    try:
        status, created = await es.call("POST", "/api/requests", FORM)
        assert status == 201, created
        (mine,) = await rows(es)
        assert mine["request_id"] == created["id"] and mine["handling"] == H1
        (theirs,) = await wait_until(lambda: rows(ma), what="the request's deadline at MA")
        assert theirs["handling"] == H1
        (seen,) = await rows(admin)
        assert seen["handling"] is None
        status, html = await es.call("GET", "/deadlines")
        assert status == 200 and b'class="handling handling-H1"' in html
        status, html = await admin.call("GET", "/deadlines")
        assert status == 200 and b"handling-H1" not in html
    finally:
        for client in (es, ma, admin):
            await client.close()
