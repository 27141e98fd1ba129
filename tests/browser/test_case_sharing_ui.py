"""Sharing a case in a real headless Chromium against real nodes: ES's investigator
invites MA from the case page, MA's liaison prosecutor sees the invitation banner and
accepts with MA's reference, and both case pages list both members. Screenshots as in
``test_ui_flow``."""

from __future__ import annotations

from playwright.async_api import Browser, expect

from ..federation import ApiClient, Federation
from .test_ui_flow import browser, fed, log_in, new_page, reload_until, shot

__all__ = ["browser", "fed"]  # the fixtures, shared with test_ui_flow

CASE = {
    "title": "Cayucos from Dakar to Almería",
    "reference": "UCRIF-AL-2026-0117",
    "offences": ["migrant_smuggling"],
    "route": [{"country": "SN", "role": "origin"}, {"country": "ES", "role": "destination"}],
}


async def test_es_invites_ma_and_ma_accepts(fed: Federation, browser: Browser) -> None:
    es, ma = fed["ES-CNA"].url, fed["MA-CNA"].url
    client = await ApiClient(fed["ES-CNA"]).login("investigator")
    status, case = await client.call("POST", "/api/cases", CASE)
    assert status == 201
    await client.close()

    investigator = await new_page(browser)
    await log_in(investigator, es, "investigator")
    await investigator.goto(f"{es}/cases/{case['id']}")
    await investigator.get_by_label("Invite an authority").select_option("MA-CNA")
    await investigator.get_by_role("button", name="Send the invitation").click()
    await expect(investigator.get_by_role("status")).to_have_text("Done.")
    members = investigator.locator("table.members tbody tr")
    await expect(members).to_have_count(2)
    await expect(members.filter(has_text="MA-CNA")).to_contain_text("Invited")

    liaison = await new_page(browser)
    await log_in(liaison, ma, "liaison")
    await liaison.goto(f"{ma}/cases?shared=1")
    await reload_until(liaison, "Shared by ES-CNA", "the invitation at MA")
    await liaison.get_by_role("link", name="Open").first.click()
    await expect(liaison.locator(".invitation")).to_contain_text("ES-CNA invites")
    await expect(liaison.get_by_role("heading", level=1)).to_have_text(CASE["title"])
    await shot(liaison, "case-invitation")
    await liaison.get_by_label("Our reference").fill("DGSN-RAB-2026-311")
    await liaison.get_by_label("Investigator who holds the case here").select_option("investigator")
    await liaison.get_by_role("button", name="Accept").click()
    await expect(liaison.get_by_role("status")).to_have_text("Done.")
    await expect(liaison.locator(".invitation")).to_have_count(0)

    await reload_until(investigator, "DGSN-RAB-2026-311", "MA's answer at ES")
    both = investigator.locator("table.members tbody tr")
    await expect(both.filter(has_text="MA-CNA")).to_contain_text("Member")
    await expect(both.filter(has_text="MA-CNA")).to_contain_text("DGSN-RAB-2026-311")
    await expect(both.filter(has_text="ES-CNA")).to_contain_text("Member")
    await shot(investigator, "case-members")

    await reload_until(liaison, "Member list", "the member list at MA")
    mine = liaison.locator("table.members tbody tr")
    await expect(mine).to_have_count(2)
    await expect(mine.filter(has_text="ES-CNA")).to_contain_text(CASE["reference"])
    await expect(mine.filter(has_text="MA-CNA")).to_contain_text("Member")
