"""Every guarded route, for every role and for no login, is allowed or refused as
designed: pages redirect the anonymous to the login page and answer 403 to the
wrong role; the JSON API answers 401 and 403. The table below is the design; the
test also fails when the app has a guarded route the table does not list."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from ..federation import FAST_DELIVERY, PASSWORD, ROLES, ApiClient, Federation, wait_until

INV, LIA, AUD, ADM = "investigator", "liaison", "auditor", "admin"
ANY = (INV, LIA, AUD, ADM)
DESIGN: dict[tuple[str, str], tuple[str, ...]] = {
    # pages
    ("GET", "/directory"): (INV, LIA, ADM),
    ("GET", "/compose"): (INV,),
    ("POST", "/compose"): (INV,),
    ("GET", "/requests"): (INV, LIA),
    ("GET", "/inbox"): (LIA,),
    ("GET", "/search"): (INV, LIA),
    ("GET", "/requests/{id}"): (INV, LIA),
    ("POST", "/requests/{id}/{action}"): (LIA,),
    ("POST", "/requests/{id}/close"): (INV, LIA),
    ("POST", "/requests/{id}/messages"): (INV, LIA),
    ("POST", "/requests/{id}/send"): (INV,),
    ("GET", "/deadlines"): (INV, LIA, ADM),
    ("GET", "/alerts"): (INV, LIA, ADM),
    ("GET", "/stats"): (LIA, ADM),
    ("GET", "/audit"): (AUD,),
    ("POST", "/audit/verify"): (AUD,),
    ("GET", "/audit/received-alerts"): (AUD,),
    ("GET", "/admin"): (ADM,),
    ("POST", "/requests/{id}/discard"): (INV,),
    ("POST", "/admin/users"): (ADM,),
    ("POST", "/admin/users/remove"): (ADM,),
    ("POST", "/admin/keys/rotate"): (ADM,),
    ("POST", "/logout"): ANY,
    ("GET", "/cases"): (INV, LIA),
    ("GET", "/cases/new"): (INV,),
    ("POST", "/cases/new"): (INV,),
    ("GET", "/cases/{id}"): (INV, LIA),
    ("POST", "/cases/{id}/close"): (INV, LIA),
    ("POST", "/cases/{id}/members"): (INV, LIA),
    ("POST", "/cases/{id}/accept"): (LIA,),
    ("POST", "/cases/{id}/decline"): (LIA,),
    ("POST", "/cases/{id}/members/{authority}/remove"): (INV, LIA),
    ("POST", "/cases/{id}/leave"): (LIA,),
    # JSON API
    ("POST", "/api/logout"): ANY,
    ("GET", "/api/me"): ANY,
    ("GET", "/api/directory"): ANY,
    ("POST", "/api/requests"): (INV,),
    ("GET", "/api/requests"): (INV, LIA),
    ("GET", "/api/inbox"): (LIA,),
    ("GET", "/api/search"): (INV, LIA),
    ("GET", "/api/requests/{id}"): (INV, LIA),
    ("POST", "/api/requests/{id}/acknowledge"): (LIA,),
    ("POST", "/api/requests/{id}/responses"): (LIA,),
    ("POST", "/api/requests/{id}/reject"): (LIA,),
    ("POST", "/api/requests/{id}/messages"): (INV, LIA),
    ("POST", "/api/requests/{id}/close"): (INV, LIA),
    ("POST", "/api/drafts"): (INV,),
    ("POST", "/api/requests/{id}/send"): (INV,),
    ("PUT", "/api/drafts/{id}"): (INV,),
    ("DELETE", "/api/drafts/{id}"): (INV,),
    ("POST", "/api/attachments"): (INV, LIA),
    ("POST", "/api/uploads"): (INV, LIA),
    ("PATCH", "/api/uploads/{id}"): (INV, LIA),
    ("GET", "/api/requests/{id}/attachments/{attachment_id}"): (INV, LIA),
    ("GET", "/api/deadlines"): (INV, LIA, ADM),
    ("GET", "/api/alerts"): (INV, LIA, ADM),
    ("GET", "/api/stats"): (LIA, ADM),
    ("GET", "/api/stats.csv"): (LIA, ADM),
    ("GET", "/api/stats.svg"): (LIA, ADM),
    ("GET", "/api/audit/entries"): (AUD,),
    ("GET", "/api/audit/proof"): (AUD,),
    ("GET", "/api/audit/checkpoint"): (AUD, ADM),
    ("GET", "/api/audit/alerts"): (AUD, ADM),
    ("GET", "/api/audit/received-alerts"): (AUD, ADM),
    ("POST", "/api/audit/verify"): (AUD,),
    ("GET", "/api/audit/bundle"): (AUD,),
    ("POST", "/api/cases"): (INV,),
    ("GET", "/api/cases"): (INV, LIA),
    ("GET", "/api/cases/{id}"): (INV, LIA),
    ("POST", "/api/cases/{id}/close"): (INV, LIA),
    # sharing: the case's investigator or a liaison invites; a liaison answers
    ("POST", "/api/cases/{id}/members"): (INV, LIA),
    ("POST", "/api/cases/{id}/accept"): (LIA,),
    ("POST", "/api/cases/{id}/decline"): (LIA,),
    ("POST", "/api/cases/{id}/members/{authority}/remove"): (INV, LIA),
    ("POST", "/api/cases/{id}/leave"): (LIA,),
}
# changes the session itself: checked last, once per role
LAST = {("POST", "/logout"), ("POST", "/api/logout")}


@pytest.fixture
async def fed(tmp_path: Path) -> AsyncIterator[Federation]:
    # The matrix logs in dozens of times from one address within seconds; the login
    # limit per address has tests of its own (tests/node/test_login_limits.py). It also
    # opens a connection per route and role (over 300 now): the connection gate has
    # its own tests too (tests/node/test_connection_limits.py).
    many_logins = (
        "[limits]\nlogins_per_minute = 6000\nlogin_burst = 1000\nconnection_burst = 1000\n"
    )
    fed = Federation.create(
        tmp_path, ["ES-CNA", "MA-CNA"], extra_config=FAST_DELIVERY + many_logins
    )
    from exchange.ops.provision import add_user

    add_user(fed["ES-CNA"].data, username="investigator2", password=PASSWORD, role=INV)
    await fed.start()
    yield fed
    await fed.stop()


def guarded_routes(fed: Federation) -> dict[tuple[str, str], tuple[str, ...]]:
    app = fed["ES-CNA"].running.app  # type: ignore[union-attr]
    found = {}
    for route in app.router.routes():
        roles = getattr(route.handler, "roles", None)
        if roles is not None and route.resource is not None and route.method != "HEAD":
            found[(route.method, route.resource.canonical)] = tuple(roles)
    return found


def test_design_covers_every_guarded_route(fed: Federation) -> None:
    enforced = guarded_routes(fed)
    assert set(enforced) == set(DESIGN), "the role matrix must list every guarded route"
    for key, roles in DESIGN.items():
        assert set(enforced[key]) == set(roles), f"{key}: code allows {enforced[key]}"


async def _call(
    session: aiohttp.ClientSession, member: Any, method: str, path: str, csrf: str
) -> aiohttp.ClientResponse:
    ssl = aiohttp.Fingerprint(bytes.fromhex(member.fingerprint))
    url = member.url + path
    if method == "GET":
        return await session.get(url, ssl=ssl, allow_redirects=False)
    if path.startswith("/api/"):
        return await session.request(
            method, url, ssl=ssl, allow_redirects=False, headers={"X-CSRF-Token": csrf}, json={}
        )
    return await session.post(url, ssl=ssl, allow_redirects=False, data={"csrf_token": csrf})


async def test_every_route_for_every_role(fed: Federation) -> None:
    es = fed["ES-CNA"]
    investigator = await ApiClient(es).login(INV)
    status, created = await investigator.call(
        "POST",
        "/api/requests",
        {
            "to": "MA-CNA",
            "kind": "information_request",
            "urgency": "urgent",
            "subject": "Matrix",
            "body": "Role matrix",
            "language": "en",
        },
    )
    assert status == 201
    await investigator.close()
    request_id = created["id"]

    def concrete(path: str) -> str:
        return (
            path.replace("{id}", request_id)
            .replace("{action}", "acknowledge")
            .replace("{attachment_id}", "none")
            .replace("{authority}", "MA-CNA")
        )

    clients = {role: await ApiClient(es).login(role) for role in ROLES}
    try:
        for (method, path), allowed in DESIGN.items():
            url = concrete(path)
            async with aiohttp.ClientSession() as anonymous:
                response = await _call(anonymous, es, method, url, "")
                if path.startswith("/api/"):
                    assert response.status == 401, (method, path)
                else:
                    assert response.status == 303, (method, path)
                    assert response.headers["Location"].startswith("/login?next="), path
            for role, client in list(clients.items())[: len(ROLES)]:
                if (method, path) in LAST:
                    client = await ApiClient(es).login(role)  # a session of its own to end
                    clients[f"{role}-{path}"] = client
                response = await _call(client.session, es, method, url, client.csrf)
                where = f"{method} {path} as {role}: {response.status}"
                if role in allowed:
                    assert response.status not in (401, 403) and response.status < 500, where
                    if (method, path) not in LAST:  # logging out ends at the login page
                        assert not response.headers.get("Location", "").startswith("/login"), where
                else:
                    assert response.status == 403, where
    finally:
        for client in clients.values():
            await client.close()


async def test_another_investigators_request_is_not_found(fed: Federation) -> None:
    es = fed["ES-CNA"]
    owner = await ApiClient(es).login(INV)
    other = await ApiClient(es).login("investigator2")
    try:
        _, created = await owner.call(
            "POST",
            "/api/requests",
            {
                "to": "MA-CNA",
                "kind": "information_request",
                "urgency": "urgent",
                "subject": "Mine",
                "body": "Only mine",
                "language": "en",
            },
        )
        rid = created["id"]
        status, _ = await other.call("GET", f"/api/requests/{rid}")
        assert status == 404
        status, page = await other.call("GET", f"/requests/{rid}")
        assert status == 404 and b"Only mine" not in page
        status, listing = await other.call("GET", "/requests")
        assert status == 200 and rid.encode() not in listing
        status, _ = await other.call(
            "POST",
            f"/requests/{rid}/close",
            raw=f"csrf_token={other.csrf}".encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert status == 404
        status, page = await owner.call("GET", f"/requests/{rid}")
        assert status == 200 and b"Only mine" in page
        await wait_until(lambda: True)
    finally:
        await owner.close()
        await other.close()
