"""The permanent log takes only what it should (issue 15, item 5): a hostile client
at the login box cannot write what it likes into the append-only audit log, a name
that is no account leaves no trace, and evidence files are named by their blob.

Real nodes over TLS; the attacker only speaks the node's own login API and page.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from exchange.ops.provision import add_user
from exchange.store import audit

from ..federation import PASSWORD, ApiClient, Federation, Member
from ..storage import stored_bytes

REQUEST = {"to": "MA-CNA", "kind": "information_request", "urgency": "urgent",
           "subject": "Passport", "body": "See the scan.", "language": "en"}  # fmt: skip


BAD_NAMES = {"900KB": "a" * 900_000, "space": "alice smith", "trailing-newline": "alice\n",
             "newline": "alice\nlogin_succeeded", "nul": "al\x00ice", "escape": "al\x1bice",
             "empty": "", "65": "a" * 65, "non-ascii": "\u00e1lice"}  # fmt: skip


@pytest.fixture
async def fed(tmp_path: Path) -> AsyncIterator[Federation]:
    fed = Federation.create(tmp_path, ["ES-CNA", "MA-CNA"])
    await fed.start()
    yield fed
    await fed.stop()


async def entries(member: Member) -> list[bytes]:
    def read(c: object) -> list[bytes]:
        return [bytes(e) for _, e in audit.entries(c, 0, audit.size(c))]  # type: ignore[arg-type]

    return await member.node.db.run(read)


async def login(member: Member, username: str, password: str = "x" * 12) -> tuple[int, dict]:  # type: ignore[type-arg]
    client = ApiClient(member)
    try:
        return await client.call("POST", "/api/login", {"username": username, "password": password})
    finally:
        await client.close()


@pytest.mark.parametrize(
    "username",
    BAD_NAMES.values(),
    ids=BAD_NAMES.keys(),
)
async def test_a_username_that_could_be_no_account_is_refused_and_not_logged(
    fed: Federation, username: str
) -> None:
    es = fed["ES-CNA"]
    before = await entries(es)
    status, body = await login(es, username)
    assert status == 400, body
    assert body["error"]["code"] == "malformed"
    assert await entries(es) == before
    failures = await es.node.db.run(
        lambda c: c.execute("SELECT COUNT(*) FROM login_failures").fetchone()[0]
    )
    assert failures == 0


async def test_the_login_page_refuses_a_malformed_username_with_an_error(
    fed: Federation,
) -> None:
    es = fed["ES-CNA"]
    before = await entries(es)
    client = ApiClient(es)
    try:
        async with client.session.post(
            es.url + "/login",
            data={"username": "bob\nsecret password", "password": "x" * 12, "next": "/"},
            headers={"Origin": es.url},
            ssl=client.ssl,
            allow_redirects=False,
        ) as response:
            page = await response.text()
            assert response.status == 400, page
            assert "a username is 1 to 64" in page
    finally:
        await client.close()
    assert await entries(es) == before


async def test_a_failed_login_for_an_unknown_name_leaves_no_trace_of_the_name(
    fed: Federation,
) -> None:
    es = fed["ES-CNA"]
    typed = "Hunter2-My.Password_7781"  # a password typed into the username box
    before = len(await entries(es))
    status, body = await login(es, typed)
    assert status == 401 and body["error"]["code"] == "unauthorized", body
    after = await entries(es)
    assert len(after) == before + 1
    assert b'"login_failed"' in after[-1] and b'"unknown user"' in after[-1]
    for entry in after:
        assert typed.encode() not in entry
        assert typed.lower().encode() not in entry.lower()
    assert typed.encode() not in stored_bytes(es.data)


async def test_unknown_names_are_throttled_like_accounts_without_being_stored(
    fed: Federation,
) -> None:
    es = fed["ES-CNA"]
    limit = es.node.config.session.max_login_failures
    for _ in range(limit):
        status, _ = await login(es, "nobody.here")
        assert status == 401
    status, body = await login(es, "nobody.here")
    assert status == 429, body  # the same answer an account gets: no name oracle
    rows = await es.node.db.run(
        lambda c: c.execute("SELECT COUNT(*) FROM login_failures").fetchone()[0]
    )
    assert rows == 0


async def test_a_failed_login_for_an_account_keeps_its_name(fed: Federation) -> None:
    es = fed["ES-CNA"]
    status, _ = await login(es, "investigator", "wrong password!")
    assert status == 401
    last = (await entries(es))[-1]
    assert b'"login_failed"' in last and b'"investigator"' in last


def test_the_cli_refuses_a_username_that_could_be_no_account(tmp_path: Path) -> None:
    fed = Federation.create(tmp_path, ["ES-CNA"])
    from exchange.core.errors import Malformed

    with pytest.raises(Malformed):
        add_user(fed["ES-CNA"].data, username="eve\nadmin", password=PASSWORD, role="admin")


async def test_evidence_audit_entries_carry_no_plaintext_hash(fed: Federation) -> None:
    es = fed["ES-CNA"]
    data = b"KNOWN-FILE " + os.urandom(10_000)
    plain = hashlib.sha256(data).hexdigest()
    investigator = await ApiClient(es).login("investigator")
    try:
        form = aiohttp.FormData()
        form.add_field("file", data, filename="scan.pdf", content_type="application/pdf")
        async with investigator.session.post(
            es.url + "/api/attachments",
            data=form,
            headers={"X-CSRF-Token": investigator.csrf},
            ssl=investigator.ssl,
        ) as response:
            uploaded = await response.json()
            assert response.status == 201, uploaded
        status, created = await investigator.call(
            "POST", "/api/requests", {**REQUEST, "attachments": [uploaded["id"]]}
        )
        assert status == 201, created
        path = f"/api/requests/{created['id']}/attachments/{uploaded['id']}"
        async with investigator.session.get(es.url + path, ssl=investigator.ssl) as response:
            assert response.status == 200 and await response.read() == data
    finally:
        await investigator.close()
    found = await entries(es)
    actions = [e for e in found if b'"attachment_' in e]
    assert len(actions) == 2
    blob = next((es.data / "blobs").iterdir()).name
    for entry in actions:
        assert blob.encode() in entry  # named by the hash of the ciphertext
    for entry in found:
        assert plain.encode() not in entry.lower()
