"""Evidence files between real nodes: streamed upload, encrypted transfer before
the message, identical download at the recipient, limits, visibility, and no
plaintext at rest."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from exchange.core.errors import NotFound
from exchange.ops.provision import add_user
from exchange.service import inbound

from ..federation import FAST_DELIVERY, PASSWORD, ApiClient, Federation, wait_until
from ..storage import stored_bytes

MARKER = b"PASSPORT-SCAN-OF-WITNESS-7781 "
LIMIT = 8 * 1024 * 1024
REQUEST = {"to": "MA-CNA", "kind": "information_request", "urgency": "urgent",
           "subject": "Passport", "body": "See the scan.", "language": "en"}  # fmt: skip


@pytest.fixture
async def fed(tmp_path: Path) -> AsyncIterator[Federation]:
    extra = FAST_DELIVERY + f"\n[limits]\nmax_attachment_bytes = {LIMIT}\n"
    fed = Federation.create(tmp_path, ["ES-CNA", "MA-CNA"], extra_config=extra)
    add_user(fed["ES-CNA"].data, username="investigator2", password=PASSWORD, role="investigator")
    await fed.start()
    yield fed
    await fed.stop()


async def upload(client: ApiClient, data: bytes, name: str = "scan.pdf") -> tuple[int, Any]:
    form = aiohttp.FormData()
    form.add_field("file", data, filename=name, content_type="application/pdf")
    async with client.session.post(
        client.member.url + "/api/attachments",
        data=form,
        headers={"X-CSRF-Token": client.csrf},
        ssl=client.ssl,
    ) as response:
        return response.status, await response.json()


async def download(client: ApiClient, path: str) -> tuple[int, bytes, Any]:
    async with client.session.get(client.member.url + path, ssl=client.ssl) as response:
        return response.status, await response.read(), response.headers


async def test_attachment_travels_encrypted_and_arrives_identical(fed: Federation) -> None:
    es, ma = fed["ES-CNA"], fed["MA-CNA"]
    data = MARKER * 40_000 + os.urandom(300_000)  # ~1.5 MB: many chunks
    investigator = await ApiClient(es).login("investigator")
    liaison = await ApiClient(ma).login("liaison")
    other = await ApiClient(es).login("investigator2")
    try:
        status, uploaded = await upload(investigator, data, 'scan "A";.pdf')
        assert status == 201, uploaded
        assert uploaded["size"] == len(data)
        assert uploaded["sha256"] == hashlib.sha256(data).hexdigest()
        assert "key" not in uploaded
        # nobody else can attach my upload
        status, body = await other.call(
            "POST", "/api/requests", {**REQUEST, "attachments": [uploaded["id"]]}
        )
        assert status == 404, body
        status, created = await investigator.call(
            "POST", "/api/requests", {**REQUEST, "attachments": [uploaded["id"]]}
        )
        assert status == 201, created

        async def incoming() -> str:
            _, inbox = await liaison.call("GET", "/api/inbox")
            return str(inbox["requests"][0]["id"]) if inbox["requests"] else ""

        rid = await wait_until(incoming, what="request with attachment at MA")
        status, view = await liaison.call("GET", f"/api/requests/{rid}")
        listed = view["messages"][0]["attachments"]
        assert [a["sha256"] for a in listed] == [uploaded["sha256"]]
        assert "attachments" not in view["messages"][0]["content"]  # keys never shown
        status, got, headers = await download(
            liaison, f"/api/requests/{rid}/attachments/{listed[0]['id']}"
        )
        assert status == 200 and got == data
        assert headers["X-Content-Type-Options"] == "nosniff"
        disposition = headers["Content-Disposition"]
        name = disposition.removeprefix('attachment; filename="').removesuffix('"')
        assert '"' not in name and ";" not in name and name.endswith(".pdf")  # no header injection

        # the sender can open its own copy; another investigator cannot
        path = f"/api/requests/{created['id']}/attachments/{uploaded['id']}"
        status, mine, _ = await download(investigator, path)
        assert status == 200 and mine == data
        status, _, _ = await download(other, path)
        assert status == 404
        # the upload was sent once: it cannot be attached again
        status, _ = await investigator.call(
            "POST", "/api/requests", {**REQUEST, "attachments": [uploaded["id"]]}
        )
        assert status == 404

        # no plaintext at rest: not in the databases, not in the blob files
        for member in (es, ma):
            assert MARKER not in stored_bytes(member.data), member.authority_id
            for file in (member.data / "blobs").iterdir():
                assert MARKER not in file.read_bytes(), file
        audit_rows = await ma.node.db.run(
            lambda c: c.execute(
                "SELECT COUNT(*) FROM audit_entries WHERE CAST(entry AS TEXT) LIKE "
                "'%attachment_opened%'"
            ).fetchone()[0]
        )
        assert audit_rows == 1
    finally:
        for client in (investigator, liaison, other):
            await client.close()


async def test_oversized_and_malformed_uploads_leave_nothing(fed: Federation) -> None:
    es = fed["ES-CNA"]
    investigator = await ApiClient(es).login("investigator")
    try:
        status, body = await upload(investigator, b"x" * (LIMIT + 1))
        assert status == 413 and body["error"]["code"] == "too_large"
        status, body = await investigator.call("POST", "/api/attachments", {"file": "nope"})
        assert status == 400 and body["error"]["code"] == "malformed"
        blobs = es.data / "blobs"
        assert not blobs.exists() or list(blobs.iterdir()) == []
        rows = await es.node.db.run(
            lambda c: c.execute("SELECT COUNT(*) FROM attachments").fetchone()[0]
        )
        assert rows == 0
        auditor = await ApiClient(es).login("auditor")
        status, _ = await upload(auditor, b"x")
        assert status == 403
        await auditor.close()
    finally:
        await investigator.close()


# Multipart bodies aiohttp's reader cannot read, refused before a first part is
# handed out: each must be a 400, never a 500.
FILE_PART = b'--x\r\nContent-Disposition: form-data; name="file"; filename="a"\r\n\r\n'
UNREADABLE = {
    "no boundary": ("multipart/form-data", FILE_PART + b"abc\r\n--x--\r\n"),
    "boundary over 70 characters": ("multipart/form-data; boundary=" + "x" * 71, FILE_PART),
    "boundary never found": ("multipart/form-data; boundary=x", b"no boundary anywhere"),
    "nested part without boundary": (
        "multipart/form-data; boundary=x",
        b"--x\r\nContent-Type: multipart/mixed\r\n\r\n--x--\r\n",
    ),
    "overlong _charset_": (
        "multipart/form-data; boundary=x",
        b'--x\r\nContent-Disposition: form-data; name="_charset_"\r\n\r\n' + b"u" * 40,
    ),
}


async def test_unreadable_multipart_is_malformed_and_leaves_nothing(fed: Federation) -> None:
    es = fed["ES-CNA"]
    investigator = await ApiClient(es).login("investigator")
    cut_short = ("multipart/form-data; boundary=x", FILE_PART + b"y" * 200_000)
    try:
        answers = {}
        for name, (content_type, body) in {**UNREADABLE, "cut short": cut_short}.items():
            status, answer = await investigator.call(
                "POST", "/api/attachments", raw=body, headers={"Content-Type": content_type}
            )
            answers[name] = (status, answer["error"]["code"])
            assert answer["error"]["message"], name
        assert answers == dict.fromkeys([*UNREADABLE, "cut short"], (400, "malformed"))
        blobs = es.data / "blobs"
        assert not blobs.exists() or list(blobs.iterdir()) == []
        rows = await es.node.db.run(
            lambda c: c.execute("SELECT COUNT(*) FROM attachments").fetchone()[0]
        )
        assert rows == 0
    finally:
        await investigator.close()


async def test_a_message_waits_for_its_blob(fed: Federation) -> None:
    """A peer that gets the envelope before the blob answers not_found (retryable)."""
    entry = {"id": "a1", "filename": "f", "media_type": "text/plain", "size": 1,
             "sha256": "0" * 64, "blob_sha256": "1" * 64, "blob_size": 60,
             "key": "A" * 43 + "="}  # fmt: skip
    with pytest.raises(NotFound):
        inbound.check_blobs(fed["MA-CNA"].node, {"attachments": [entry]})


async def test_a_download_whose_file_is_gone_is_not_found_not_a_500(fed: Federation) -> None:
    """A blob file removed under the node (a disk restored without blobs/, a collection
    race) answers 404 ``not_found`` naming it, not a 500 mid-stream, and audits no
    opening that did not happen."""
    es = fed["ES-CNA"]
    investigator = await ApiClient(es).login("investigator")
    try:
        status, uploaded = await upload(investigator, MARKER * 1000)
        assert status == 201, uploaded
        status, created = await investigator.call(
            "POST", "/api/requests", {**REQUEST, "attachments": [uploaded["id"]]}
        )
        assert status == 201, created
        for blob in (es.data / "blobs").iterdir():
            if not blob.name.startswith("."):
                blob.unlink()

        def opened(c: Any) -> int:
            return int(
                c.execute(
                    "SELECT COUNT(*) FROM audit_entries WHERE CAST(entry AS TEXT) LIKE "
                    "'%attachment_opened%'"
                ).fetchone()[0]
            )

        before = await es.node.db.run(opened)
        path = f"/api/requests/{created['id']}/attachments/{uploaded['id']}"
        status, body, _ = await download(investigator, path)
        assert status == 404, body
        assert json.loads(body)["error"]["code"] == "not_found"
        assert await es.node.db.run(opened) == before
    finally:
        await investigator.close()
