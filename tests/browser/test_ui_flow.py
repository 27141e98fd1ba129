"""The whole flow in a real headless Chromium (Debian's package, driven by
Playwright) against a real three-node federation: an investigator finds the
authority and sends an urgent request; the liaison prosecutor at the receiving
node acknowledges and answers it; the investigator sees the answer and the
timeline; the auditor sees the entries and verifies the log.

Screenshots of the main pages go to ``test-artifacts/screenshots/`` (not
committed); with ``EXCHANGE_UPDATE_SCREENSHOTS=1`` they also replace the ones in
``docs/screenshots/``.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from exchange.cli.demo import AUTHORITIES

from ..federation import PASSWORD, Federation

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "screenshots"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_INSTALLED = CHROMIUM.exists()
ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
BODY = "Please identify the owner of the inflatable boat that left Nador on 3 November."
EVIDENCE = b"Photo of the boat: hull number MA-NAD-4411.\n" * 200
REGISTRY = b"Vessel register extract: owner registered in Selouane.\n" * 50
ANSWER = "The boat was bought in Nador by a man registered in Selouane."

try:
    from playwright.async_api import Browser, Page, async_playwright, expect
except ImportError as exc:  # a missing tool is a failure to see, not a skip
    raise RuntimeError("playwright is not installed: run `make test` to set up .venv") from exc


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    if not CHROMIUM_INSTALLED:
        pytest.fail("Debian's chromium is not installed: `make test` installs it with apt-get")
    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        await b.close()


@pytest.fixture
async def fed(tmp_path: Path) -> AsyncIterator[Federation]:
    # the demo's authorities: real-looking requirements, languages and time zones
    infos = {a.authority_id: a for a in AUTHORITIES}
    fed = Federation.create(tmp_path, ["ES-CNA", "MA-CNA", "SN-CNA"], infos=infos)
    await fed.start()
    yield fed
    await fed.stop()


async def new_page(browser: Browser) -> Page:
    context = await browser.new_context(
        ignore_https_errors=True,  # the nodes' self-signed certificates (peers pin them)
        timezone_id="Europe/Madrid",
        locale="en-GB",
        viewport={"width": 1280, "height": 900},
    )
    context.set_default_timeout(15_000)
    return await context.new_page()


async def log_in(page: Page, url: str, username: str) -> None:
    await page.goto(url + "/login")
    await page.get_by_label("Username").fill(username)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    await expect(page.get_by_text(f"Signed in as {username}")).to_be_visible()


async def log_in_french(browser: Browser, url: str, username: str) -> Page:
    """A page of a browser whose language is French, signed in as ``username``."""
    context = await browser.new_context(ignore_https_errors=True, locale="fr-FR")
    page = await context.new_page()
    await page.goto(url + "/login")
    await page.get_by_label("Nom d'utilisateur").fill(username)
    await page.get_by_label("Mot de passe").fill(PASSWORD)
    await page.get_by_role("button", name="Se connecter").click()
    await expect(page.get_by_text(f"Connecté en tant que {username}")).to_be_visible()
    return page


async def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    if os.environ.get("EXCHANGE_UPDATE_SCREENSHOTS") == "1":
        docs = ROOT / "docs" / "screenshots"
        docs.mkdir(exist_ok=True)
        shutil.copy(path, docs / path.name)


async def reload_until(page: Page, pattern: str, what: str) -> None:
    """Reload (the pages are server-rendered) until ``pattern`` shows, with a bound."""
    for _ in range(100):
        if re.search(pattern, await page.content()):
            return
        await page.wait_for_timeout(100)  # the pace of the polling, not a synchronisation
        await page.reload()
    raise AssertionError(f"timed out waiting for {what}")


async def test_request_from_investigator_to_liaison_and_back(
    fed: Federation, browser: Browser
) -> None:
    es, ma = fed["ES-CNA"].url, fed["MA-CNA"].url

    # The investigator in Spain finds Morocco's central authority in the directory.
    investigator = await new_page(browser)
    await log_in(investigator, es, "investigator")
    await investigator.get_by_role("link", name="Directory").click()
    await investigator.get_by_label("Country (ISO code)").fill("MA")
    await investigator.get_by_role("button", name="Search").click()
    card = investigator.locator("#authority-MA-CNA")
    await expect(card).to_contain_text("Accepted languages")
    await expect(card).to_contain_text("Local time now")
    await expect(card).to_contain_text("Promises an urgent answer within")
    await shot(investigator, "directory")
    await card.get_by_role("link", name="Write a request").click()

    # Composes an urgent request; a language Morocco does not accept is flagged at once.
    await expect(investigator.locator("#requirements")).to_contain_text("Legal requirements")
    await investigator.get_by_role("radio", name=re.compile(r"^Urgent")).check()
    await investigator.get_by_label("Language", exact=True).fill("de")
    await expect(investigator.locator("#language-hint")).to_contain_text("may be refused")
    await investigator.get_by_label("Language", exact=True).fill("fr")
    await expect(investigator.locator("#language-hint")).to_have_text("")
    await investigator.get_by_label("Subject").fill("Boat departure, Nador, 3 November")
    await investigator.get_by_label("Request", exact=True).fill(BODY)
    await investigator.get_by_label("Attachments").set_input_files(
        files=[{"name": "boat-photo.txt", "mimeType": "text/plain", "buffer": EVIDENCE}]
    )
    await shot(investigator, "compose")
    await investigator.get_by_role("button", name="Seal and send").click()
    await expect(investigator.get_by_role("status")).to_have_text("Done.")
    request_url = investigator.url.split("?")[0]
    await reload_until(investigator, r"status-delivered|status-acknowledged", "delivery")
    await expect(investigator.locator(".receipt").first).to_contain_text("Receipt SHA-256")
    # Times are shown in the reader's zone, with UTC on hover.
    first_time = investigator.locator("time").first
    assert "UTC" in (await first_time.get_attribute("title") or "")
    assert "UTC" not in await first_time.inner_text()

    # The liaison prosecutor in Morocco sees it in the inbox, acknowledges and answers.
    liaison = await new_page(browser)
    await log_in(liaison, ma, "liaison")
    await reload_until(liaison, "ES-CNA", "the request in MA's inbox")
    await expect(liaison.locator("tbody tr").first).to_contain_text("Urgent")
    await shot(liaison, "inbox")
    # The liaison reads the inbox in Arabic: right to left, then back to English.
    await liaison.get_by_role("link", name="العربية").click()
    await expect(liaison.locator("html")).to_have_attribute("dir", "rtl")
    await expect(liaison.get_by_role("heading", level=1)).to_contain_text("الطلبات الواردة")
    await expect(liaison.locator("tbody tr").first).to_contain_text("عاجل")
    await shot(liaison, "inbox-ar")
    await liaison.get_by_role("link", name="English").click()
    await expect(liaison.locator("html")).to_have_attribute("dir", "ltr")
    await liaison.locator("tbody tr").first.get_by_role("link", name="Open").click()
    await expect(liaison.locator(".message .body").first).to_have_text(BODY)
    async with liaison.expect_download() as download_info:
        await liaison.get_by_role("link", name="boat-photo.txt").click()
    download = await download_info.value
    saved = await download.path()
    assert saved is not None and saved.read_bytes() == EVIDENCE
    await liaison.get_by_role("button", name="Acknowledge").click()
    await expect(liaison.locator(".status").first).to_have_text("Acknowledged")
    await liaison.get_by_label("Answer", exact=True).fill(ANSWER)
    await liaison.get_by_label("Attachments").set_input_files(
        files=[{"name": "registry-extract.txt", "mimeType": "text/plain", "buffer": REGISTRY}]
    )
    await liaison.get_by_role("button", name="Answer", exact=True).click()
    await expect(liaison.locator(".status").first).to_have_text("Answered")

    # The investigator sees the answer and the whole timeline.
    await investigator.goto(request_url)
    await reload_until(investigator, "status-answered", "the answer back in Spain")
    await expect(investigator.locator(".message .body").last).to_have_text(ANSWER)
    async with investigator.expect_download() as answer_download:
        await investigator.get_by_role("link", name="registry-extract.txt").click()
    answered_file = await (await answer_download.value).path()
    assert answered_file is not None and answered_file.read_bytes() == REGISTRY
    timeline = investigator.locator(".timeline")
    for step in ("Request created", "Queued", "Delivered", "Acknowledgement", "Response"):
        await expect(timeline).to_contain_text(step)
    await expect(investigator.locator(".deadline .badge")).to_have_text("Met")
    await shot(investigator, "request")

    # The auditor in Spain reads the entries (never contents) and verifies the log.
    auditor = await new_page(browser)
    await log_in(auditor, es, "auditor")
    entries = auditor.locator("table.entries")
    await expect(entries).to_contain_text("request_created")
    await expect(entries).to_contain_text("request_opened")
    await auditor.get_by_role("button", name="Verify the whole log now").click()
    await expect(auditor.locator("#verify-result")).to_contain_text("The log verifies")
    # ... and the page says it was checked against the peer witnesses' views
    await expect(auditor.locator("#verify-result + p")).to_contain_text("witnesses' views")
    page_text = await auditor.content()
    assert BODY not in page_text and ANSWER not in page_text
    await shot(auditor, "audit")

    # The admin sees the peers and the directory; the liaison prosecutor the statistics.
    admin = await new_page(browser)
    await log_in(admin, es, "admin")
    await expect(admin.locator("body")).to_contain_text("MA-CNA")
    await shot(admin, "admin")
    await liaison.goto(ma + "/stats")
    await expect(liaison.locator("img.chart")).to_be_visible()
    await shot(liaison, "stats")


async def test_pages_fit_a_phone(fed: Federation, browser: Browser) -> None:
    context = await browser.new_context(
        ignore_https_errors=True, viewport={"width": 390, "height": 844}
    )
    page = await context.new_page()
    await log_in(page, fed["ES-CNA"].url, "investigator")
    for path in ("/compose", "/directory", "/requests"):
        await page.goto(fed["ES-CNA"].url + path)
        width: Any = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= 400, f"{path} scrolls sideways on a phone ({width}px)"
    # keyboard: the skip link is the first stop and leads to the content
    await page.keyboard.press("Tab")
    focused = await page.evaluate("document.activeElement.textContent")
    assert focused == "Skip to content"
