"""The compose form posted twice in a real headless Chromium (issue 17, item 2): each
rendered form carries a fresh Idempotency-Key, so the same POST sent again (a browser's
re-POST, a double click) creates one request, and the second answer is the first's."""

from __future__ import annotations

import asyncio
import re
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from playwright.async_api import Browser, Page, expect

from exchange.core.clock import ManualClock

from ..adversarial.test_idempotency import looking_up
from ..federation import Federation, Member, wait_until
from .test_ui_flow import browser, fed, log_in, new_page

__all__ = ["browser", "fed"]  # the fixtures, shared with test_ui_flow
DONE = re.compile(r"/requests/[^/?]+\?done=1$")


async def sent(member: Member) -> list[str]:
    def read(conn: Any) -> list[str]:
        rows = conn.execute("SELECT id FROM requests WHERE direction = 'out' ORDER BY id")
        return [r[0] for r in rows.fetchall()]

    return await member.node.db.run(read)


async def received(member: Member) -> int:
    def read(conn: Any) -> int:
        sql = "SELECT COUNT(*) FROM requests WHERE direction = 'in' AND counterpart = 'ES-CNA'"
        return int(conn.execute(sql).fetchone()[0])

    return await member.node.db.run(read)


async def fill_compose(page: Page, url: str, subject: str) -> None:
    await page.goto(url + "/compose")
    await page.get_by_label("To", exact=True).select_option("MA-CNA")
    await page.get_by_label("Language", exact=True).fill("fr")
    await page.get_by_label("Subject").fill(subject)
    await page.get_by_label("Request", exact=True).fill("Who owns the boat?")


async def test_the_same_compose_post_twice_creates_one_request(
    fed: Federation, browser: Browser
) -> None:
    es, ma = fed["ES-CNA"], fed["MA-CNA"]
    page = await new_page(browser)
    await log_in(page, es.url, "investigator")
    await fill_compose(page, es.url, "Boat from Nador")
    async with page.expect_request(lambda r: r.method == "POST") as posted:
        await page.get_by_role("button", name="Seal and send").click()
    first = await posted.value
    await expect(page).to_have_url(DONE)
    created = await sent(es)
    assert len(created) == 1
    # the browser's re-POST: the very same request (key, cookie, body) sent again
    headers = await first.all_headers()
    again = await page.request.post(
        first.url,
        headers={"Content-Type": headers["content-type"]},
        data=first.post_data_buffer,
        max_redirects=0,
    )
    assert again.status == 303
    assert again.headers["location"] == f"/requests/{created[0]}?done=1"
    assert again.headers["idempotent-replayed"] == "true"
    assert await sent(es) == created
    await wait_until(lambda: received(ma), what="delivered")
    assert await received(ma) == 1


async def test_a_double_submit_creates_one_request(tmp_path: Path, browser: Browser) -> None:
    """The second submit leaves while the first is still running (the node's database
    is held meanwhile): the browser shows the second answer, which is the first's."""
    # a clock that stands still: the session stays in the node's cache, so the first
    # POST's only database job is its key lookup
    clock = ManualClock(datetime.now(UTC).replace(microsecond=0))
    fed = Federation.create(tmp_path, ["ES-CNA", "MA-CNA"], clock=clock)
    await fed.start()
    try:
        await double_submit(fed, browser)
    finally:
        await fed.stop()


async def double_submit(fed: Federation, browser: Browser) -> None:
    es = fed["ES-CNA"]
    page = await new_page(browser)
    await log_in(page, es.url, "investigator")
    await fill_compose(page, es.url, "Boat from Dakhla")
    posts: list[str] = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    held, release = threading.Event(), threading.Event()

    def block(conn: Any) -> None:
        held.set()
        release.wait(30)

    blocker = asyncio.ensure_future(es.node.db.run(block))
    try:
        await wait_until(held.is_set)
        await page.get_by_role("button", name="Seal and send").focus()
        await page.keyboard.press("Enter")
        await wait_until(lambda: looking_up(es), what="the first POST holds its key")
        await page.keyboard.press("Enter")  # the button still has the focus
        await wait_until(lambda: len(posts) == 2, what="the second POST sent")
    finally:
        release.set()
        await blocker
    await expect(page).to_have_url(DONE)
    created = await sent(es)
    assert len(created) == 1
    assert page.url.endswith(f"/requests/{created[0]}?done=1")
    assert len(set(posts)) == 1  # one form, one key
