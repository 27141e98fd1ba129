"""Issue 16, "Done when", through the web UI only, in a real headless Chromium against
four real nodes (the API half is ``tests/adversarial/test_route_scenario.py``).

1. Spain's investigator opens a case on the route SN (origin) -> MA (transit) -> ES
   (destination) and, from the case page, sends ONE urgent request, H2, with its
   reference, to Morocco and Senegal.
2. Morocco's liaison acknowledges with its own reference and asks for additional
   information; Spain's investigator gives it.
3. Morocco answers in part, then in full.
4. Senegal's central authority transfers its copy to the prosecutor's office (SN-PRD);
   the request reaches SN-PRD's inbox, and Spain's case page names SN-PRD as the holder.
5. Spain's case page shows each recipient's status, both references, H2 and the
   receipts (each of Spain's messages receipted: 2/2 to Morocco, 1/1 to Senegal), and
   each row's "Open" link whole on a 1280-pixel screen (before: cut off by the scroller).

Every step is a click or a keystroke; the pages are only reloaded (bounded) while the
nodes deliver in the background. Screenshots at steps 1, 4 and 5."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect

from exchange.cli.demo import AUTHORITIES

from ..federation import Federation
from .test_ui_flow import browser, log_in, new_page, reload_until, shot

__all__ = ["browser"]  # the Chromium fixture, shared with test_ui_flow

TITLE = "Boats Dakar - Nador - Almeria"
CASE_REFERENCE = "UCRIF-AL-2026-0042"
REFERENCE = "UCRIF-AL-2026-0042/3"
MA_REFERENCE = "MA-DGSN-2026-117"
SUBJECT = "Departures Dakar - Nador - Almeria"
BODY = "Who owns the boat that left Dakar on 12 May?"


@pytest.fixture
async def fed4(tmp_path: Path) -> AsyncIterator[Federation]:
    infos = {a.authority_id: a for a in AUTHORITIES}
    fed = Federation.create(tmp_path, ["ES-CNA", "MA-CNA", "SN-CNA", "SN-PRD"], infos=infos)
    await fed.start()
    yield fed
    await fed.stop()


async def open_from_inbox(page: Page, url: str) -> None:
    """The liaison opens Spain's request from the inbox once it has arrived."""
    await page.goto(url + "/requests")
    await reload_until(page, re.escape(REFERENCE), "Spain's request in the inbox")
    await page.locator("tbody tr", has_text=REFERENCE).get_by_role("link", name="Open").click()
    await expect(page.locator(".message .body").first).to_have_text(BODY)


async def send(page: Page, type_: str, text: str) -> None:
    """Send one conversation message from the request page's form of that type."""
    form = page.locator(f"#send-{type_}")
    await form.get_by_role("textbox").fill(text)
    await form.get_by_role("button").click()


async def test_done_when_through_the_ui(fed4: Federation, browser: Browser) -> None:
    es, ma, sn = fed4["ES-CNA"].url, fed4["MA-CNA"].url, fed4["SN-CNA"].url

    # 1. the case on the route, then one urgent H2 request to Morocco and Senegal
    investigator = await new_page(browser)
    await log_in(investigator, es, "investigator")
    await investigator.get_by_role("link", name="Cases").click()
    await investigator.get_by_role("link", name="Open a case").click()
    await investigator.get_by_label("Title").fill(TITLE)
    await investigator.get_by_label("Your reference").fill(CASE_REFERENCE)
    await investigator.get_by_label("Migrant smuggling").check()
    for i, (country, role) in enumerate(
        (("SN", "origin"), ("MA", "transit"), ("ES", "destination"))
    ):
        await investigator.locator(f"#country-{i}").fill(country)
        await investigator.locator(f"select[name=role_{i}]").select_option(role)
    await investigator.get_by_role("button", name="Open the case").click()
    await expect(investigator.get_by_role("heading", level=1)).to_have_text(TITLE)
    case_url = investigator.url.split("?")[0]

    await investigator.get_by_role("link", name="New request in this case").click()
    await expect(investigator.get_by_label("Case", exact=True)).to_have_value(
        case_url.rsplit("/", 1)[1]
    )
    await investigator.get_by_label("To", exact=True).select_option("MA-CNA")
    await investigator.locator("#also-to").get_by_role("checkbox", name="SN-CNA").check()
    await investigator.get_by_role("radio", name=re.compile(r"^Urgent")).check()
    await investigator.get_by_label("Language", exact=True).fill("fr")
    await investigator.get_by_label("Subject").fill(SUBJECT)
    await investigator.get_by_label("Request", exact=True).fill(BODY)
    await investigator.get_by_label("Your file reference").fill(REFERENCE)
    await investigator.get_by_label("Handling code").select_option("H2")
    await investigator.get_by_label("Confidential").check()
    await investigator.get_by_role("button", name="Seal and send").click()
    await expect(investigator.locator("#sent-to-several")).to_be_visible()
    assert investigator.url.split("?")[0] == case_url  # back on the case page
    await reload_until(
        investigator, r"(?s)Signed receipt held.*Signed receipt held", "both receipts"
    )
    rows = investigator.locator("#per-recipient tbody tr")
    await expect(rows).to_have_count(2)
    await expect(investigator.locator(".route")).to_have_text(
        "SN (origin) → MA (transit) → ES (destination)"
    )
    await shot(investigator, "route-sent")

    # 2. Morocco acknowledges with its reference and asks for more; Spain answers
    liaison_ma = await new_page(browser)
    await log_in(liaison_ma, ma, "liaison")
    await open_from_inbox(liaison_ma, ma)
    ma_request = liaison_ma.url.split("?")[0]
    await expect(liaison_ma.locator("#conditions")).to_contain_text("H2")
    await liaison_ma.get_by_label("Our reference").fill(MA_REFERENCE)
    await liaison_ma.get_by_role("button", name="Acknowledge").click()
    await expect(liaison_ma.locator(".status").first).to_have_text("Acknowledged")
    await expect(liaison_ma.locator("#recipient-reference")).to_have_text(MA_REFERENCE)
    await send(liaison_ma, "clarification_request", "Which boat name?")
    await expect(liaison_ma.locator(".status").first).to_have_text("Awaiting clarification")

    morocco = investigator.locator('#per-recipient tbody tr[data-recipient="MA-CNA"]')
    await investigator.goto(case_url)
    await reload_until(investigator, "status-awaiting_clarification", "Morocco's question")
    await morocco.get_by_role("link", name="Open").click()
    await expect(investigator.locator(".message .body").last).to_have_text("Which boat name?")
    await send(investigator, "clarification", "The Nour II.")
    await expect(investigator.locator(".status").first).to_have_text("Acknowledged")

    # 3. a partial, then a final response
    await liaison_ma.goto(ma_request)
    await reload_until(liaison_ma, "The Nour II.", "Spain's additional information")
    await send(liaison_ma, "partial_response", "The owner lives in Larache.")
    await expect(liaison_ma.locator(".status").first).to_have_text("Partially answered")
    await liaison_ma.get_by_label("Answer", exact=True).fill("That is all we hold.")
    await liaison_ma.get_by_role("button", name="Answer", exact=True).click()
    await expect(liaison_ma.locator(".status").first).to_have_text("Answered")

    # 4. Senegal's central authority transfers its copy to the prosecutor's office
    liaison_sn = await new_page(browser)
    await log_in(liaison_sn, sn, "liaison")
    await open_from_inbox(liaison_sn, sn)
    await liaison_sn.get_by_label("Competent authority to transfer to").select_option("SN-PRD")
    await liaison_sn.get_by_label("Reason for the transfer").fill("Competent: Dakar.")
    await liaison_sn.get_by_role("button", name="Transfer the request").click()
    await expect(liaison_sn.locator(".status").first).to_have_text("Transferred")
    # the prosecutor's office now holds Spain's request, H2 and Spain's reference with it
    prosecutor = await new_page(browser)
    await log_in(prosecutor, fed4["SN-PRD"].url, "liaison")
    await open_from_inbox(prosecutor, fed4["SN-PRD"].url)
    await expect(prosecutor.get_by_role("heading", level=1)).to_contain_text("ES-CNA")
    await expect(prosecutor.locator("#conditions")).to_contain_text("H2")
    await expect(prosecutor.locator("#sender-reference")).to_have_text(REFERENCE)

    await investigator.goto(case_url)
    await reload_until(investigator, "status-transferred", "the transfer back in Spain")
    senegal = investigator.locator('#per-recipient tbody tr[data-recipient="SN-PRD"]')
    await expect(senegal).to_contain_text("SN-PRD")
    await expect(senegal.locator(".status")).to_have_text("Transferred")
    await senegal.get_by_role("link", name="Open").click()
    await expect(investigator.locator(".transfer")).to_contain_text("SN-PRD")
    await shot(investigator, "route-transferred")

    # 5. Spain's case page: each recipient's status, both references, H2, the receipts
    await investigator.goto(case_url)
    await reload_until(
        investigator,
        r"(?s)status-answered.*\(2/2\).*status-transferred.*\(1/1\)",
        "every receipt of Spain's messages",
    )
    morocco = investigator.locator('#per-recipient tbody tr[data-recipient="MA-CNA"]')
    senegal = investigator.locator('#per-recipient tbody tr[data-recipient="SN-PRD"]')
    await expect(morocco.locator(".status")).to_have_text("Answered")
    await expect(senegal.locator(".status")).to_have_text("Transferred")
    await expect(morocco.locator(".references")).to_have_text(f"{REFERENCE} / {MA_REFERENCE}")
    await expect(senegal.locator(".references")).to_contain_text(REFERENCE)
    for row, country, count in ((morocco, "MA", "(2/2)"), (senegal, "SN", "(1/1)")):
        await expect(row).to_contain_text(country)
        await expect(row.locator(".handling-H2")).to_be_visible()
        await expect(row).to_contain_text(f"Signed receipt held {count}")
    await expect(morocco).to_contain_text("Response")
    await expect(senegal).to_contain_text("Transfer")
    # each row's link is whole on a desktop screen, not cut off by the table's scroller
    for row in (morocco, senegal):
        await expect(row.get_by_role("link", name="Open")).to_be_in_viewport(ratio=1)
    await shot(investigator, "route-case")
