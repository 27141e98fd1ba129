"""Evidence files from a real headless Chromium (issue 17, part 3): the compose page
sends a file in parts to /api/uploads with a progress bar, goes on from where the node
says after the connection breaks mid-file, and the request page then shows how much of
it the recipient confirmed."""

from __future__ import annotations

import os
import re

from playwright.async_api import Browser, Route, expect

from ..disks import small_disk
from ..federation import ApiClient, Federation
from .test_ui_flow import browser, fed, log_in, log_in_french, new_page, reload_until

__all__ = ["browser", "fed"]  # the fixtures, shared with test_ui_flow
PART = 8 * 1024 * 1024  # the page's part size
EVIDENCE = os.urandom(2 * PART + 12345)  # three parts
NO_ROOM_FR = (
    "Le disque du nœud n'a pas la place pour ce fichier : prévenez votre administrateur,"
    " puis choisissez à nouveau le fichier."
)


async def test_a_file_is_uploaded_in_parts_resumed_and_its_delivery_shown(
    fed: Federation, browser: Browser
) -> None:
    es = fed["ES-CNA"].url
    page = await new_page(browser)
    await log_in(page, es, "investigator")
    broken: list[str] = []

    async def break_once(route: Route) -> None:
        """Network faults: the connection drops once in the middle of the file, and once
        after the last part reached the node but before its answer came back."""
        offset = route.request.headers.get("upload-offset", "0")
        if route.request.method == "PATCH" and offset != "0" and offset not in broken:
            broken.append(offset)
            if offset == str(2 * PART):
                await route.fetch()  # the node takes the last part; its answer is lost
            await route.abort("connectionreset")
        else:
            await route.continue_()

    await page.route(re.compile(r".*/api/uploads/.*"), break_once)
    await page.goto(es + "/compose?to=MA-CNA")
    await page.get_by_label("Language", exact=True).fill("en")
    await page.get_by_label("Subject").fill("Phone extraction, Nador")
    await page.get_by_label("Request", exact=True).fill("The extraction is attached.")
    await page.get_by_label("Attachments").set_input_files(
        files=[{"name": "phone.bin", "mimeType": "application/octet-stream",
                "buffer": EVIDENCE}]
    )  # fmt: skip
    progress = page.locator("ul.uploads progress")
    await expect(progress).to_have_count(1)
    await expect(page.locator('input[name="uploaded"]')).to_have_count(1, timeout=60_000)
    assert await progress.get_attribute("max") == str(len(EVIDENCE))
    await expect(progress).to_have_js_property("value", len(EVIDENCE))
    assert broken == [str(PART), str(2 * PART)]  # it broke twice, and went on each time
    assert await page.locator("#attachment").input_value() == ""  # not sent twice
    await page.get_by_role("button", name="Seal and send").click()
    await expect(page.get_by_role("status")).to_have_text("Done.")
    await reload_until(page, r"status-delivered|status-acknowledged", "delivery")
    blob = len(EVIDENCE) + len(EVIDENCE) // 65536 * 21 + 24 + 21  # chunk framing and tags
    await expect(page.locator(".transfer-progress")).to_contain_text(
        f"sent to MA-CNA: {blob} of {blob} bytes confirmed"
    )
    async with page.expect_download() as download_info:
        await page.get_by_role("link", name="phone.bin").click()
    saved = await (await download_info.value).path()
    assert saved is not None and saved.read_bytes() == EVIDENCE


async def test_a_node_whose_disk_is_full_says_so_in_the_users_language(
    fed: Federation, browser: Browser
) -> None:
    """The node refuses the file (507 insufficient_storage: a real 8 MiB filesystem on
    its blobs folder, below the 1 GiB it keeps free); the page says why, in French, at
    once, instead of retrying or showing an HTTP status."""
    es = fed["ES-CNA"].url
    page = await log_in_french(browser, es, "investigator")
    with small_disk(fed["ES-CNA"].data / "blobs"):
        await page.goto(es + "/compose?to=MA-CNA")
        await page.locator("#attachment").set_input_files(
            files=[{"name": "phone.bin", "mimeType": "application/octet-stream",
                    "buffer": EVIDENCE[:100_000]}]
        )  # fmt: skip
        await expect(page.locator("ul.uploads li[role=alert]")).to_have_text(NO_ROOM_FR)
        await expect(page.locator('input[name="uploaded"]')).to_have_count(0)
        await expect(page.get_by_role("button", name="Sceller et envoyer")).to_be_enabled()
        # the form sends the file whole instead: the page says the same, nothing is sent
        await page.get_by_label("Langue", exact=True).fill("fr")
        await page.get_by_label("Objet").fill("Extraction du téléphone")
        await page.get_by_label("Demande", exact=True).fill("L'extraction est jointe.")
        await page.get_by_role("button", name="Sceller et envoyer").click()
        await expect(page.get_by_role("alert")).to_have_text(NO_ROOM_FR)
    await page.context.close()
    client = await ApiClient(fed["ES-CNA"]).login("investigator")
    try:
        _, listed = await client.call("GET", "/api/requests")
        assert listed["requests"] == []
    finally:
        await client.close()
