"""Spontaneous information in a real headless Chromium (issue 16, item 6): choosing the
kind on the compose page hides the deadline field (it expects no answer), and the page
of what was sent says so."""

from __future__ import annotations

from playwright.async_api import Browser, expect

from ..federation import Federation
from .test_ui_flow import browser, fed, log_in, new_page

__all__ = ["browser", "fed"]  # the fixtures, shared with test_ui_flow


async def test_spontaneous_information_hides_the_deadline(
    fed: Federation, browser: Browser
) -> None:
    es = fed["ES-CNA"].url
    page = await new_page(browser)
    await log_in(page, es, "investigator")
    await page.goto(es + "/compose")
    await page.get_by_label("To", exact=True).select_option("MA-CNA")
    deadline = page.locator("#deadline")
    await expect(deadline).to_be_visible()
    await deadline.fill("2030-01-01T10:00")
    await page.locator("#kind").select_option("spontaneous_information")
    await expect(deadline).to_be_hidden()
    await expect(page.locator("#no-deadline-hint")).to_be_visible()
    await page.locator("#kind").select_option("information_request")
    await expect(deadline).to_be_visible()
    await expect(deadline).to_have_value("")  # emptied while hidden: never sent by mistake
    await page.locator("#kind").select_option("spontaneous_information")
    await page.get_by_label("Language", exact=True).fill("en")
    await page.get_by_label("Subject").fill("A boat leaves Dakhla tonight")
    await page.get_by_label("Request", exact=True).fill("Thirty people, a blue cayuco.")
    await page.get_by_role("button", name="Seal and send").click()
    await expect(page.locator("#no-answer-expected")).to_have_text(
        "Spontaneous information — no answer expected"
    )
