"""Search in a real headless Chromium (issue 17): the header's search box finds a sent
request by a word of its text and by its reference, pages through the results, says
when nothing matches, and the case board's text filter finds a case by its sealed
title; in French the page speaks French."""

from __future__ import annotations

from playwright.async_api import Browser, expect

from ..federation import ApiClient, Federation, wait_until
from .test_ui_flow import browser, fed, log_in, new_page

__all__ = ["browser", "fed"]  # the fixtures, shared with test_ui_flow

FORM = {
    "to": "MA-CNA",
    "kind": "information_request",
    "urgency": "standard",
    "subject": "Cayuco from Dakhla",
    "body": "Thirty people left on a blue cayuco named Almirante.",
    "language": "en",
}


async def test_search_box_results_and_case_text_filter(fed: Federation, browser: Browser) -> None:
    es = fed["ES-CNA"]
    await wait_until(lambda: es.node.search.ready, what="the search index built")
    client = await ApiClient(es).login("investigator")
    try:
        for n in range(3):
            status, _ = await client.call(
                "POST", "/api/requests", {**FORM, "reference": f"UCRIF-77-{n}"}
            )
            assert status == 201
        case = {"title": "Red Sea crossing network", "reference": "OCRIEST-9",
                "offences": ["migrant_smuggling"], "route": []}  # fmt: skip
        status, _ = await client.call("POST", "/api/cases", case)
        assert status == 201
    finally:
        await client.close()
    page = await new_page(browser)
    await log_in(page, es.url, "investigator")
    box = page.get_by_role("search").first.get_by_label("Words to find")
    await box.fill("almirante")
    await box.press("Enter")
    await expect(page.get_by_role("heading", name="Requests holding: almirante")).to_be_visible()
    await expect(page.locator("tbody tr")).to_have_count(3)
    await page.goto(es.url + "/search?q=ucrif-77-1")
    await expect(page.locator("tbody tr")).to_have_count(1)
    await expect(page.locator("td.references")).to_have_text("UCRIF-77-1")
    await page.goto(es.url + "/search?q=nador")
    await expect(page.get_by_text("Nothing found.")).to_be_visible()
    # the case board's text filter, on the sealed title
    await page.goto(es.url + "/cases")
    await page.get_by_label("Title or reference").fill("red sea")
    await page.get_by_role("button", name="Filter").click()
    await expect(page.locator("tbody tr")).to_have_count(1)
    await expect(page.locator("tbody tr")).to_contain_text("Red Sea crossing network")
    # in French: the search box and the page
    await page.get_by_role("link", name="Français").click()
    box = page.get_by_role("search").first.get_by_label("Mots à trouver")
    await box.fill("Almirante")
    await box.press("Enter")
    await expect(page.get_by_role("heading", name="Demandes contenant : Almirante")).to_be_visible()
    await expect(page.locator("tbody tr")).to_have_count(3)
