"""The conversation in a real headless Chromium (issue 16, item 7): Senegal's
central authority transfers Spain's request to the prosecutor's office in Dakar from
the request page; Spain's page then shows who holds it, and offers the requester's
actions only (a reminder, a withdrawal), never the recipient's."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, expect

from exchange.cli.demo import AUTHORITIES

from ..federation import ApiClient, Federation, wait_until
from .test_ui_flow import browser, log_in, new_page, reload_until, shot

__all__ = ["browser"]  # the Chromium fixture, shared with test_ui_flow


@pytest.fixture
async def fed4(tmp_path: Path) -> AsyncIterator[Federation]:
    infos = {a.authority_id: a for a in AUTHORITIES}
    ids = ["ES-CNA", "MA-CNA", "SN-CNA", "SN-PRD"]
    fed = Federation.create(tmp_path, ids, infos=infos)
    await fed.start()
    yield fed
    await fed.stop()


async def test_a_transfer_from_the_request_page(fed4: Federation, browser: Browser) -> None:
    es = await ApiClient(fed4["ES-CNA"]).login("investigator")
    sn_api = await ApiClient(fed4["SN-CNA"]).login("liaison")
    try:
        _, created = await es.call(
            "POST",
            "/api/requests",
            {
                "to": "SN-CNA",
                "kind": "information_request",
                "urgency": "urgent",
                "subject": "Pirogue departure, Dakar, 2 November",
                "body": "Who organised the departure of the pirogue?",
                "language": "fr",
            },
        )

        async def at_sn() -> str | None:
            _, body = await sn_api.call("GET", "/api/inbox")
            found = [r["id"] for r in body["requests"] if r["msg_id"] == created["msg_id"]]
            return found[0] if found else None

        sn_id = await wait_until(at_sn, what="the request at SN-CNA")
    finally:
        await es.close()
        await sn_api.close()

    liaison = await new_page(browser)
    await log_in(liaison, fed4["SN-CNA"].url, "liaison")
    await liaison.goto(f"{fed4['SN-CNA'].url}/requests/{sn_id}")
    # the recipient may transfer; it is never offered the requester's withdrawal
    await expect(liaison.get_by_role("button", name="Withdraw the request")).to_have_count(0)
    await liaison.get_by_label("Competent authority to transfer to").select_option("SN-PRD")
    await liaison.get_by_label("Reason for the transfer").fill("Competent: Dakar prosecutor.")
    await shot(liaison, "request-transfer")
    await liaison.get_by_role("button", name="Transfer the request").click()
    await expect(liaison.locator(".status").first).to_have_text("Transferred")
    # once transferred, the central authority has nothing more to send but consent
    await expect(liaison.get_by_role("button", name="Answer", exact=True)).to_have_count(0)
    await expect(liaison.get_by_role("button", name="Transfer the request")).to_have_count(0)

    investigator = await new_page(browser)
    await log_in(investigator, fed4["ES-CNA"].url, "investigator")
    await investigator.goto(f"{fed4['ES-CNA'].url}/requests/{created['id']}")
    await reload_until(investigator, "status-transferred", "the transfer back in Spain")
    await expect(investigator.get_by_role("heading", level=1)).to_contain_text("SN-PRD")
    await expect(investigator.locator(".transfer")).to_contain_text("SN-PRD")
    await expect(investigator.locator(".timeline")).to_contain_text(
        "Transferred to another authority"
    )
    await expect(investigator.get_by_role("button", name="Send a reminder")).to_be_visible()
    await expect(investigator.get_by_role("button", name="Withdraw the request")).to_be_visible()
    await expect(investigator.get_by_role("button", name="Acknowledge")).to_have_count(0)
    await shot(investigator, "request-transferred")
    await investigator.get_by_role("button", name="Send a reminder").click()
    await expect(investigator.locator(".timeline")).to_contain_text("Reminder")
