"""Login CSRF on the JSON API: ``POST /api/login`` from a page of another site
(``Origin``) or with a body that is not ``application/json`` (what a cross-site form
can send without a CORS preflight: text/plain, urlencoded, multipart) makes no
session. The logins that scripts and the UI send still work."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from exchange.web.auth import COOKIE

from ..federation import PASSWORD, Federation, Member

CREDENTIALS = json.dumps({"username": "investigator", "password": PASSWORD}).encode()


@pytest.fixture
async def member(tmp_path: Path) -> AsyncIterator[Member]:
    fed = Federation.create(tmp_path, ["ES-CNA"])
    await fed.start()
    yield fed["ES-CNA"]
    await fed.stop()


async def post_login(
    member: Member, headers: dict[str, str], body: bytes | aiohttp.FormData = CREDENTIALS
) -> tuple[int, Any, bool]:
    """Status, JSON body, and whether the browser would now hold a session cookie."""
    jar = aiohttp.CookieJar(unsafe=True)
    async with (
        aiohttp.ClientSession(cookie_jar=jar) as session,
        session.post(
            member.url + "/api/login",
            data=body,
            headers=headers,
            ssl=aiohttp.Fingerprint(bytes.fromhex(member.fingerprint)),
        ) as response,
    ):
        payload = await response.json()
        return response.status, payload, any(cookie.key == COOKIE for cookie in jar)


async def sessions(member: Member) -> int:
    return int(
        await member.node.db.run(lambda c: c.execute("SELECT COUNT(*) FROM sessions").fetchone()[0])
    )


async def test_a_login_from_another_site_is_refused(member: Member) -> None:
    for origin in ("https://evil.example", f"https://{member.url[8:]}.evil.example", "null"):
        status, body, cookie = await post_login(
            member, {"Origin": origin, "Content-Type": "application/json"}
        )
        assert (status, body.get("error", {}).get("code")) == (403, "csrf_failed"), origin
        assert not cookie, origin
    assert await sessions(member) == 0


async def test_a_login_that_is_not_json_is_refused(member: Member) -> None:
    form = aiohttp.FormData()
    form.add_field("username", "investigator")
    form.add_field("password", PASSWORD)
    form.add_field("file", b"", filename="x")  # multipart, as a form with a file input
    refused: list[tuple[dict[str, str], bytes | aiohttp.FormData]] = [
        ({"Content-Type": "text/plain"}, CREDENTIALS),
        ({"Content-Type": "text/plain; charset=utf-8", "Origin": member.url}, CREDENTIALS),
        ({"Content-Type": "application/x-www-form-urlencoded"}, CREDENTIALS),
        ({}, form),
        ({"Content-Type": "application/octet-stream"}, CREDENTIALS),
    ]
    for headers, body in refused:
        status, payload, cookie = await post_login(member, headers, body)
        assert (status, payload.get("error", {}).get("code")) == (415, "unsupported_media_type"), (
            headers
        )
        assert payload["error"]["message"]
        assert not cookie, headers
    assert await sessions(member) == 0


async def test_json_logins_still_work(member: Member) -> None:
    for headers in (
        {"Content-Type": "application/json"},  # a script: no Origin
        {"Content-Type": "application/json; charset=utf-8", "Origin": member.url},  # the UI
    ):
        status, body, cookie = await post_login(member, headers)
        assert status == 200 and body["role"] == "investigator", headers
        assert cookie, headers
    assert await sessions(member) == 2
