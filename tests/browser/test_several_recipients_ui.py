"""Several recipients in a real headless Chromium against real nodes (issue 16, item 2):
an investigator composes one request to Morocco and Senegal (the "To" authority and a
ticked "Also send to" box, by keyboard), and lands on the case page's per-recipient
table: two rows, each recipient with its country, the H2 badge, the sender's reference,
its own status, deadline and receipt. A draft with several recipients is refused."""

from __future__ import annotations

from playwright.async_api import Browser, expect

from ..federation import Federation
from .test_ui_flow import browser, fed, log_in, new_page, reload_until, shot

__all__ = ["browser", "fed"]  # the fixtures, shared with test_ui_flow

REFERENCE = "UCRIF-AL-2026-0042/4"


async def test_one_request_to_two_authorities(fed: Federation, browser: Browser) -> None:
    es = fed["ES-CNA"].url
    page = await new_page(browser)
    await log_in(page, es, "investigator")
    await page.goto(es + "/compose")
    await page.get_by_label("To", exact=True).select_option("MA-CNA")
    also = page.locator("#also-to")
    await expect(also.get_by_role("checkbox")).to_have_count(2)  # not this node itself
    box = also.get_by_role("checkbox", name="SN-CNA")
    await box.focus()
    await page.keyboard.press("Space")  # keyboard accessible
    await expect(box).to_be_checked()
    await page.get_by_label("Language", exact=True).fill("fr")
    await page.get_by_label("Subject").fill("Departures Dakar - Nador - Almeria")
    await page.get_by_label("Request", exact=True).fill("Who owns the boat that left on 12 May?")
    await page.get_by_label("Your file reference").fill(REFERENCE)
    await page.get_by_role("button", name="Save as draft").click()
    await expect(page.get_by_role("alert")).to_contain_text("A draft has one recipient")
    await expect(page.locator("#also-to").get_by_role("checkbox", name="SN-CNA")).to_be_checked()
    await shot(page, "compose-several")
    await page.get_by_role("button", name="Seal and send").click()

    await expect(page.locator("#sent-to-several")).to_be_visible()
    await reload_until(page, r"(?s)Signed receipt held.*Signed receipt held", "both receipts")
    rows = page.locator("#per-recipient tbody tr")
    await expect(rows).to_have_count(2)
    for i, (recipient, country) in enumerate((("MA-CNA", "MA"), ("SN-CNA", "SN"))):
        row = rows.nth(i)
        await expect(row).to_have_attribute("data-recipient", recipient)
        await expect(row).to_contain_text(country)
        await expect(row).to_contain_text(REFERENCE)
        await expect(row.locator(".handling-H2")).to_be_visible()
        await expect(row.locator(".deadline")).to_be_visible()
        await expect(row).to_contain_text("Signed receipt held")
        await expect(row).to_contain_text("Request")  # its last message
    await shot(page, "case-several")
