"""Leaving a shared case and removing a member in a real headless Chromium against
real nodes: MA's liaison leaves Spain's case from its copy's page, Spain's investigator
sees it and removes Senegal, and Senegal's liaison, reading in French, finds its copy
marked as removed. Screenshots as in ``test_ui_flow``."""

from __future__ import annotations

from playwright.async_api import Browser, expect

from ..adversarial.test_case_membership_changes import shared_with_two
from ..federation import Federation
from .test_ui_flow import browser, fed, log_in, log_in_french, new_page, reload_until, shot

__all__ = ["browser", "fed"]  # the fixtures, shared with test_ui_flow


async def test_ma_leaves_and_es_removes_sn(fed: Federation, browser: Browser) -> None:
    ref, copies = await shared_with_two(fed)
    es, ma, sn = fed["ES-CNA"].url, fed["MA-CNA"].url, fed["SN-CNA"].url

    liaison = await new_page(browser)
    await log_in(liaison, ma, "liaison")
    await liaison.goto(f"{ma}/cases/{copies['MA-CNA']}")
    await expect(liaison.locator("table.members tbody tr")).to_have_count(3)
    await expect(liaison.get_by_role("button", name="Remove")).to_have_count(0)  # not ours
    await liaison.get_by_role("button", name="Leave the case").click()
    await expect(liaison.locator("p.ok[role=status]")).to_have_text("Done.")
    await expect(liaison.locator("#case-left")).to_contain_text("left the case")
    await expect(liaison.get_by_role("button", name="Leave the case")).to_have_count(0)
    mine = liaison.locator('tr[data-member="MA-CNA"]')
    await expect(mine).to_contain_text("Left")

    investigator = await new_page(browser)
    await log_in(investigator, es, "investigator")
    await investigator.goto(f"{es}/cases/{ref['case_id']}")
    await reload_until(investigator, "Departure", "MA's departure at ES")
    await expect(investigator.locator('tr[data-member="MA-CNA"]')).to_contain_text("Left")
    await expect(investigator.get_by_role("button", name="Leave the case")).to_have_count(0)
    await investigator.get_by_role("button", name="Remove SN-CNA from the case").click()
    await expect(investigator.locator("p.ok[role=status]")).to_have_text("Done.")
    await expect(investigator.locator('tr[data-member="SN-CNA"]')).to_contain_text("Removed")
    await shot(investigator, "case-member-removed")

    french = await log_in_french(browser, sn, "liaison")
    await french.goto(f"{sn}/cases/{copies['SN-CNA']}")
    await reload_until(french, "case-removed", "the removal at SN")
    await expect(french.locator("#case-removed")).to_contain_text("ES-CNA a retiré")
    await expect(french.locator('tr[data-member="SN-CNA"]')).to_contain_text("Retirée")
    await expect(french.get_by_role("button", name="Quitter l'affaire")).to_have_count(0)
    await shot(french, "case-removed-fr")
