"""Conditions of use and references in a real Chromium (issue 16): the investigator
composes with H2 (the preselected default) and a file reference; the liaison
prosecutor sees the H2 badge in the inbox, the banner spelling it out and the sender's
reference on the request, and acknowledges with its own reference; the investigator
then sees both references, in the list and on the request."""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import Browser, expect

from ..federation import Federation
from .test_ui_flow import browser, fed, log_in, new_page, reload_until, shot

__all__ = ["browser", "fed"]  # the fixtures, shared with the whole flow's test

SENDER_REF = "UCRIF-ALM-2026/0417"
RECIPIENT_REF = "DGSN-NADOR-88/26"
H2_MEANING = "H2 — not to be disseminated further without the provider's permission"


async def test_handling_badge_and_both_references(
    fed: Federation, browser: Browser, tmp_path: Path
) -> None:
    es, ma = fed["ES-CNA"].url, fed["MA-CNA"].url
    investigator = await new_page(browser)
    await log_in(investigator, es, "investigator")
    await investigator.goto(es + "/compose?to=MA-CNA")
    # the strict default is preselected: H2, with both UNTOC conditions
    await expect(investigator.get_by_label("Handling code")).to_have_value("H2")
    await expect(investigator.get_by_label("Use only for the proceedings")).to_be_checked()
    await expect(investigator.get_by_label("Confidential (UNTOC")).to_be_checked()
    await investigator.get_by_label("Language", exact=True).fill("fr")
    await investigator.get_by_label("Subject").fill("Zodiac departure, Nador, 3 November")
    await investigator.get_by_label("Request", exact=True).fill("Who owns the boat?")
    await investigator.get_by_label("Your file reference").fill(SENDER_REF)
    await investigator.get_by_label("Source", exact=True).select_option("B")
    await investigator.get_by_label("Information", exact=True).select_option("2")
    await shot(investigator, "compose-conditions")
    await investigator.get_by_role("button", name="Seal and send").click()
    await expect(investigator.get_by_role("status")).to_have_text("Done.")
    request_url = investigator.url.split("?")[0]
    await expect(investigator.locator("#conditions")).to_contain_text(H2_MEANING)

    liaison = await new_page(browser)
    await log_in(liaison, ma, "liaison")
    await reload_until(liaison, SENDER_REF, "the request in MA's inbox")
    row = liaison.locator("tbody tr").first
    await expect(row.locator(".handling")).to_have_text("H2*")
    await expect(row).to_contain_text(SENDER_REF)
    await shot(liaison, "inbox-conditions")
    await row.get_by_role("link", name="Open").click()
    banner = liaison.locator("#conditions")
    await expect(banner).to_contain_text(H2_MEANING)
    await expect(banner).to_contain_text("UNTOC art. 18(19)")
    await expect(banner).to_contain_text("UNTOC art. 18(20)")
    await expect(banner).to_contain_text("B — usually reliable")
    await expect(liaison.locator("#sender-reference")).to_have_text(SENDER_REF)
    # the answer form starts from the request's own conditions
    await expect(liaison.get_by_label("Handling code")).to_have_value("H2")
    await liaison.get_by_label("Our reference").fill(RECIPIENT_REF)
    await liaison.get_by_role("button", name="Acknowledge").click()
    await expect(liaison.locator(".status").first).to_have_text("Acknowledged")
    await expect(liaison.locator("#recipient-reference")).to_have_text(RECIPIENT_REF)
    # the same banner in the reader's language
    await liaison.get_by_role("link", name="Français").click()
    await expect(liaison.locator("#conditions")).to_contain_text(
        "H2 — ne pas diffuser davantage sans l'autorisation"
    )
    await liaison.get_by_role("link", name="English").click()

    await investigator.goto(request_url)
    await reload_until(investigator, RECIPIENT_REF, "MA's reference back in Spain")
    await expect(investigator.locator("#sender-reference")).to_have_text(SENDER_REF)
    await expect(investigator.locator("#recipient-reference")).to_have_text(RECIPIENT_REF)
    await shot(investigator, "request-conditions")
    await investigator.goto(es + "/requests")
    mine = investigator.locator("tbody tr").first
    await expect(mine.locator(".references")).to_have_text(f"{SENDER_REF} / {RECIPIENT_REF}")
    await expect(mine.locator(".handling")).to_have_text("H2*")
