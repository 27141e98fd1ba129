"""Drafts in the web UI: saved from the compose page, edited there again, sent or
discarded, each by its author."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ..federation import Federation
from .test_page_security import Browser

FORM = {
    "to": "MA-CNA",
    "kind": "information_request",
    "urgency": "urgent",
    "language": "en",
    "subject": "First wording",
    "body": "Who owns the vessel?",
    "deadline": "",
}


@pytest.fixture
async def fed(tmp_path: Path) -> AsyncIterator[Federation]:
    fed = Federation.create(tmp_path, ["ES-CNA", "MA-CNA"])
    await fed.start()
    yield fed
    await fed.stop()


async def _save(browser: Browser, fields: dict[str, str]) -> str:
    _, html, _ = await browser.get("/compose")
    status, _, headers = await browser.post_multipart(
        "/compose", {"csrf_token": browser.csrf(html), **fields}
    )
    assert status == 303
    return str(headers["Location"]).split("/requests/")[1].split("?")[0]


async def test_edit_then_send_a_draft(fed: Federation) -> None:
    browser = Browser(fed["ES-CNA"])
    try:
        await browser.login("investigator")
        draft_id = await _save(browser, {**FORM, "action": "draft"})
        status, page, _ = await browser.get(f"/requests/{draft_id}")
        assert status == 200 and f'href="/compose?draft={draft_id}"' in page

        status, page, _ = await browser.get(f"/compose?draft={draft_id}")
        assert status == 200
        assert 'value="First wording"' in page and f'value="{draft_id}"' in page
        edited = {**FORM, "subject": "Second wording", "draft_id": draft_id}
        status, _, headers = await browser.post_multipart(
            "/compose", {"csrf_token": browser.csrf(page), **edited, "action": "draft"}
        )
        assert status == 303 and draft_id in str(headers["Location"])
        status, page, _ = await browser.get(f"/requests/{draft_id}")
        assert "Second wording" in page and "First wording" not in page

        _, page, _ = await browser.get(f"/compose?draft={draft_id}")
        status, _, _ = await browser.post_multipart(
            "/compose", {"csrf_token": browser.csrf(page), **edited, "action": "send"}
        )
        assert status == 303
        count = await fed["ES-CNA"].node.db.run(
            lambda c: c.execute(
                "SELECT COUNT(*) FROM requests WHERE id = ? AND status != 'draft'", (draft_id,)
            ).fetchone()[0]
        )
        assert count == 1  # the same request, now sealed and on its way
    finally:
        await browser.close()


async def test_discard_a_draft_and_only_ones_own(fed: Federation) -> None:
    owner, liaison = Browser(fed["ES-CNA"]), Browser(fed["ES-CNA"])
    try:
        await owner.login("investigator")
        await liaison.login("liaison")
        draft_id = await _save(owner, {**FORM, "action": "draft"})
        _, html, _ = await liaison.get("/inbox")
        status, _, _ = await liaison.post(
            f"/requests/{draft_id}/discard", {"csrf_token": liaison.csrf(html)}
        )
        assert status == 403  # the role matrix: investigators only
        status, _, _ = await owner.get(f"/compose?draft={draft_id}x")
        assert status == 404

        _, page, _ = await owner.get(f"/requests/{draft_id}")
        status, _, headers = await owner.post(
            f"/requests/{draft_id}/discard", {"csrf_token": owner.csrf(page)}
        )
        assert status == 303 and headers["Location"] == "/requests?done=1"
        status, _, _ = await owner.get(f"/requests/{draft_id}")
        assert status == 404
    finally:
        await owner.close()
        await liaison.close()
