"""Cases in a real headless Chromium against real nodes: an investigator opens a case
on a route Dakar → Nador → Almería, sends a request in it from the case page, and sees
it on the case page with its status, deadline and receipt; the board of cases lists
it. Screenshots as in ``test_ui_flow``."""

from __future__ import annotations

from playwright.async_api import Browser, expect

from ..federation import Federation
from .test_ui_flow import browser, fed, log_in, new_page, reload_until, shot

__all__ = ["browser", "fed"]  # the fixtures, shared with test_ui_flow

TITLE = "Cayucos from Dakar to Almería"
REFERENCE = "UCRIF-AL-2026-0117"


async def test_a_case_is_opened_and_a_request_sent_in_it(fed: Federation, browser: Browser) -> None:
    es = fed["ES-CNA"].url
    page = await new_page(browser)
    await log_in(page, es, "investigator")
    await page.get_by_role("link", name="Cases").click()
    await page.get_by_role("link", name="Open a case").click()
    await page.get_by_label("Title").fill(TITLE)
    await page.get_by_label("Your reference").fill(REFERENCE)
    await page.get_by_label("Migrant smuggling").check()
    await page.get_by_label("Trafficking in persons").check()
    for i, (country, role) in enumerate(
        (("SN", "origin"), ("MA", "transit"), ("ES", "destination"))
    ):
        await page.locator(f"#country-{i}").fill(country)
        await page.locator(f"select[name=role_{i}]").select_option(role)
    await shot(page, "case-new")
    await page.get_by_role("button", name="Open the case").click()

    await expect(page.get_by_role("heading", level=1)).to_have_text(TITLE)
    await expect(page.locator(".route")).to_have_text(
        "SN (origin) → MA (transit) → ES (destination)"
    )
    case_url = page.url
    await page.get_by_role("link", name="New request in this case").click()
    await expect(page.get_by_label("Case", exact=True)).to_have_value(case_url.rsplit("/", 1)[1])
    await page.get_by_label("To", exact=True).select_option("MA-CNA")
    await page.get_by_label("Language", exact=True).fill("fr")
    await page.get_by_label("Subject").fill("Owner of the cayuco that left Nador")
    await page.get_by_label("Request", exact=True).fill("Who registered the boat?")
    await page.get_by_role("button", name="Seal and send").click()
    await expect(page.get_by_role("status")).to_have_text("Done.")

    await page.goto(case_url)
    await reload_until(page, "status-delivered|status-acknowledged", "the receipt")
    row = page.locator("tbody tr").first
    await expect(row).to_contain_text("MA-CNA")
    await expect(row).to_contain_text("Signed receipt held")
    await expect(row.locator(".deadline")).to_be_visible()
    await shot(page, "case")

    await page.get_by_role("link", name="Cases").click()
    await page.get_by_label("Country (ISO code)").fill("MA")
    await page.get_by_role("button", name="Filter").click()
    await expect(page.locator("tbody")).to_contain_text(TITLE)
    await expect(page.locator("tbody")).to_contain_text(REFERENCE)
    await shot(page, "cases")
