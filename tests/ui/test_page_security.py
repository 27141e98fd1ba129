"""The web UI's defences, against a real node: CSRF on every form, sessions that
expire, login throttling, no open redirect, and the security headers on every page."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest

from exchange.core.clock import ManualClock

from ..federation import PASSWORD, Federation, Member

PAGES = ["/login", "/directory", "/compose", "/requests", "/deadlines", "/alerts"]


@pytest.fixture
async def fed(tmp_path: Path) -> AsyncIterator[Federation]:
    clock = ManualClock(datetime.now(UTC).replace(microsecond=0))
    fed = Federation.create(tmp_path, ["ES-CNA", "MA-CNA"], clock=clock)
    await fed.start("ES-CNA")
    yield fed
    await fed.stop()


class Browser:
    """A cookie-keeping client that posts forms as a browser does."""

    def __init__(self, member: Member) -> None:
        self.member = member
        self.ssl = aiohttp.Fingerprint(bytes.fromhex(member.fingerprint))
        self.session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))

    async def get(self, path: str) -> tuple[int, str, aiohttp.typedefs.LooseHeaders]:
        async with self.session.get(
            self.member.url + path, ssl=self.ssl, allow_redirects=False
        ) as r:
            return r.status, await r.text(), r.headers

    async def post(
        self, path: str, data: dict[str, str], origin: str | None = None
    ) -> tuple[int, str, aiohttp.typedefs.LooseHeaders]:
        headers = {"Origin": origin} if origin else {}
        async with self.session.post(
            self.member.url + path, data=data, ssl=self.ssl, allow_redirects=False, headers=headers
        ) as r:
            return r.status, await r.text(), r.headers

    async def post_multipart(
        self, path: str, fields: dict[str, str]
    ) -> tuple[int, str, aiohttp.typedefs.LooseHeaders]:
        """As a browser posts a form with a file input (fields in document order)."""
        data = aiohttp.FormData()
        for name, value in fields.items():
            data.add_field(name, value)
        data.add_field("attachment", b"", filename="", content_type="application/octet-stream")
        async with self.session.post(
            self.member.url + path, data=data, ssl=self.ssl, allow_redirects=False
        ) as r:
            return r.status, await r.text(), r.headers

    async def login(self, username: str, password: str = PASSWORD) -> int:
        status, _, _ = await self.post("/login", {"username": username, "password": password})
        return status

    def csrf(self, html: str) -> str:
        marker = 'name="csrf_token" value="'
        start = html.index(marker) + len(marker)
        return html[start : html.index('"', start)]

    async def close(self) -> None:
        await self.session.close()


async def test_forms_need_the_session_csrf_token(fed: Federation) -> None:
    browser = Browser(fed["ES-CNA"])
    try:
        assert await browser.login("investigator") == 303
        status, html, _ = await browser.get("/compose")
        assert status == 200
        form = {
            "to": "MA-CNA",
            "kind": "information_request",
            "urgency": "urgent",
            "language": "en",
            "subject": "CSRF",
            "body": "No token",
        }
        for token in ("", "forged-token"):
            status, page, _ = await browser.post("/compose", {**form, "csrf_token": token})
            assert status == 403 and "CSRF" in page
            status, page, _ = await browser.post_multipart(
                "/compose", {"csrf_token": token, **form}
            )
            assert status == 403 and "CSRF" in page
        count = await fed["ES-CNA"].node.db.run(
            lambda c: c.execute("SELECT COUNT(*) FROM requests").fetchone()[0]
        )
        assert count == 0  # nothing was created by the refused posts
        status, _, headers = await browser.post_multipart(
            "/compose", {"csrf_token": browser.csrf(html), **form}
        )
        assert status == 303 and str(headers["Location"]).startswith("/requests/")
    finally:
        await browser.close()


async def test_unreadable_multipart_forms_are_a_400_page(fed: Federation) -> None:
    """A multipart form aiohttp cannot read (no boundary, a body that does not follow
    it, one cut short) or a field that is not UTF-8 gets an error page with 400, not a
    500, on every page that streams a form."""
    from ..node.test_attachments import UNREADABLE

    investigator, liaison = Browser(fed["ES-CNA"]), Browser(fed["ES-CNA"])
    try:
        await investigator.login("investigator")
        await liaison.login("liaison")
        pages = {}
        for browser, path, home, field in [
            (investigator, "/compose", "/compose", b"body"),
            (liaison, "/requests/no-such-request/answer", "/inbox", b"body"),
            (liaison, "/requests/no-such-request/reject", "/inbox", b"reason"),
        ]:
            _, html, _ = await browser.get(home)
            token = b'--x\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n'
            token += browser.csrf(html).encode() + b"\r\n--x\r\nContent-Disposition: form-data; "
            forms = {
                **UNREADABLE,
                "cut short": ("multipart/form-data; boundary=x",
                              token + b'name="attachment"; filename="a"\r\n\r\n' + b"y" * 200_000),
                "not UTF-8": ("multipart/form-data; boundary=x",
                              token + b'name="' + field + b'"\r\n\r\n\xff\xfe\r\n--x--\r\n'),
            }  # fmt: skip
            for name, (content_type, body) in forms.items():
                async with browser.session.post(
                    browser.member.url + path,
                    data=body,
                    headers={"Content-Type": content_type},
                    ssl=browser.ssl,
                    allow_redirects=False,
                ) as r:
                    pages[path, name] = (r.status, r.content_type)
        assert pages == dict.fromkeys(pages, (400, "text/html"))
        assert len(pages) == 3 * (len(UNREADABLE) + 2)
        count = await fed["ES-CNA"].node.db.run(
            lambda c: c.execute("SELECT COUNT(*) FROM requests").fetchone()[0]
        )
        assert count == 0
    finally:
        await investigator.close()
        await liaison.close()


async def test_a_form_with_the_longest_boundary_is_read(fed: Federation) -> None:
    """A boundary may have 70 characters: short fields (the CSRF token, the ids of
    earlier uploads) are still read, in chunks no smaller than it."""
    browser = Browser(fed["ES-CNA"])
    try:
        await browser.login("investigator")
        _, html, _ = await browser.get("/compose")
        boundary = b"b" * 70
        fields = {
            "csrf_token": browser.csrf(html), "uploaded": "no-such-upload", "to": "MA-CNA",
            "kind": "information_request", "urgency": "urgent", "language": "en",
            "subject": "Long boundary", "body": "Who owns the vessel?", "deadline": "",
        }  # fmt: skip
        body = b"".join(
            b"--" + boundary + b'\r\nContent-Disposition: form-data; name="' + name.encode()
            + b'"\r\n\r\n' + value.encode() + b"\r\n"
            for name, value in fields.items()
        ) + b"--" + boundary + b"--\r\n"  # fmt: skip
        async with browser.session.post(
            browser.member.url + "/compose",
            data=body,
            headers={"Content-Type": "multipart/form-data; boundary=" + boundary.decode()},
            ssl=browser.ssl,
            allow_redirects=False,
        ) as r:
            assert r.status == 303, await r.text()
            assert str(r.headers["Location"]).startswith("/requests/")
    finally:
        await browser.close()


async def test_sessions_expire_and_logout_ends_them(fed: Federation) -> None:
    assert isinstance(fed.clock, ManualClock)
    browser = Browser(fed["ES-CNA"])
    try:
        await browser.login("liaison")
        status, html, _ = await browser.get("/inbox")
        assert status == 200
        fed.clock.advance(fed["ES-CNA"].config.session.lifetime + timedelta(seconds=1))
        status, _, headers = await browser.get("/inbox")
        assert status == 303 and headers["Location"] == "/login?next=/inbox"

        await browser.login("liaison")
        status, html, _ = await browser.get("/inbox")
        status, _, headers = await browser.post("/logout", {"csrf_token": browser.csrf(html)})
        assert status == 303 and headers["Location"] == "/login"
        status, _, _ = await browser.get("/inbox")
        assert status == 303
    finally:
        await browser.close()


async def test_a_removed_users_sessions_end_at_once(fed: Federation) -> None:
    """Sessions are cached for a moment; removing a user still ends theirs at once, and
    a removal made outside the node (the CLI, straight into the database) within the
    cache's lifetime."""
    assert isinstance(fed.clock, ManualClock)
    member = fed["ES-CNA"]
    liaison, admin = Browser(member), Browser(member)
    try:
        await liaison.login("liaison")
        assert (await liaison.get("/inbox"))[0] == 200  # the session is now cached
        await admin.login("admin")
        _, html, _ = await admin.get("/admin")
        status, _, _ = await admin.post(
            "/admin/users/remove", {"username": "liaison", "csrf_token": admin.csrf(html)}
        )
        assert status == 303
        status, _, headers = await liaison.get("/inbox")
        assert status == 303 and headers["Location"] == "/login?next=/inbox"

        await liaison.login("investigator")
        assert (await liaison.get("/requests"))[0] == 200
        await member.node.db.run(
            lambda c: c.execute("UPDATE users SET disabled = 1 WHERE username = 'investigator'")
        )
        fed.clock.advance(timedelta(seconds=3))
        status, _, _ = await liaison.get("/requests")
        assert status == 303
    finally:
        await liaison.close()
        await admin.close()


async def test_login_throttling_and_safe_redirects(fed: Federation) -> None:
    browser = Browser(fed["ES-CNA"])
    try:
        limit = fed["ES-CNA"].config.session.max_login_failures
        for _ in range(limit):
            assert await browser.login("auditor", "wrong password") == 401
        status, page, headers = await browser.post(
            "/login", {"username": "auditor", "password": PASSWORD}
        )
        assert status == 429 and "Retry-After" in headers and "too many" in page
        # after a successful login, "next" never leaves the site
        status, _, headers = await browser.post(
            "/login",
            {"username": "investigator", "password": PASSWORD, "next": "https://evil.example/"},
        )
        assert status == 303 and headers["Location"] == "/"
        status, _, headers = await browser.post(
            "/login", {"username": "investigator", "password": PASSWORD, "next": "//evil.example"}
        )
        assert headers["Location"] == "/"
        # a login form posted from another site is refused (login CSRF)
        status, _, _ = await browser.post(
            "/login",
            {"username": "investigator", "password": PASSWORD},
            origin="https://evil.example",
        )
        assert status == 403
    finally:
        await browser.close()


async def test_security_headers_on_every_page(fed: Federation) -> None:
    browser = Browser(fed["ES-CNA"])
    try:
        await browser.login("investigator")
        for path in [*PAGES, "/", "/static/app.css", "/api/me", "/no/such/page"]:
            status, html, headers = await browser.get(path)
            csp = headers["Content-Security-Policy"]
            assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp, path
            assert "script-src 'self'" in csp and "unsafe-inline" not in csp, path
            assert headers["X-Frame-Options"] == "DENY", path
            assert headers["X-Content-Type-Options"] == "nosniff", path
            assert headers["Referrer-Policy"] == "same-origin", path
            assert headers["Server"] == "Exchange", path  # no software versions
            if not path.startswith("/static/"):
                assert headers["Cache-Control"] == "no-store", path
            if status == 200 and "text/html" in headers.get("Content-Type", ""):
                assert "<script>" not in html and " style=" not in html, path  # nothing inline
                assert 'lang="en"' in html and 'dir="ltr"' in html
        # the session cookie is HttpOnly, SameSite=Strict and Secure under TLS
        async with browser.session.post(
            browser.member.url + "/login",
            data={"username": "investigator", "password": PASSWORD},
            ssl=browser.ssl,
            allow_redirects=False,
        ) as r:
            cookie = r.headers["Set-Cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Secure" in cookie
    finally:
        await browser.close()


async def test_directory_filters_offer_every_kind_of_authority(fed: Federation) -> None:
    from exchange.core.directory import KINDS

    browser = Browser(fed["ES-CNA"])
    try:
        await browser.login("investigator")
        status, html, _ = await browser.get("/directory?kind=central_authority&country=ma")
        assert status == 200 and "MA-CNA" in html and "ES-CNA authority" not in html
        for kind in KINDS:
            assert f'<option value="{kind}"' in html
    finally:
        await browser.close()
