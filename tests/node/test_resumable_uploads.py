"""Resumable uploads from the local API (tus 1.0 core: POST /api/uploads, HEAD and
PATCH /api/uploads/{id}): a file sent in parts is encrypted as it streams and becomes
an attachment like any other; a broken upload goes on from where the node says; the
node killed with SIGKILL mid-upload goes on from the whole chunks it synced."""

from __future__ import annotations

import base64
import hashlib
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from ..federation import FAST_DELIVERY, ApiClient, Federation, wait_until
from .test_crash import healthy, spawn

LIMIT = 4 * 1024 * 1024
EXTRA = FAST_DELIVERY + f"\n[limits]\nmax_attachment_bytes = {LIMIT}\n"
REQUEST = {"to": "MA-CNA", "kind": "information_request", "urgency": "urgent",
           "subject": "Phone", "body": "Extraction attached.", "language": "en"}  # fmt: skip


async def tus(
    client: ApiClient, method: str, path: str, body: bytes | None = None, **headers: str
) -> tuple[int, dict[str, str], Any]:
    """A tus call as a browser or script makes it (the session's cookie and CSRF token)."""
    sent = {"X-CSRF-Token": client.csrf, "Tus-Resumable": "1.0.0"}
    sent.update({k.replace("_", "-"): v for k, v in headers.items()})
    if body is not None:
        sent["Content-Type"] = "application/offset+octet-stream"
    async with client.session.request(
        method, client.member.url + path, data=body, headers=sent, ssl=client.ssl
    ) as response:
        text = await response.read()
        parsed = await response.json() if text.startswith(b"{") else text
        return response.status, dict(response.headers), parsed


def metadata(name: str, media: str) -> str:
    return ",".join(
        f"{k} {base64.b64encode(v.encode()).decode()}"
        for k, v in (("filename", name), ("filetype", media))
    )


async def start(client: ApiClient, length: int) -> str:
    status, headers, body = await tus(
        client, "POST", "/api/uploads", Upload_Length=str(length),
        Upload_Metadata=metadata("phone.bin", "application/octet-stream"),
    )  # fmt: skip
    assert status == 201, body
    assert headers["Location"] == f"/api/uploads/{body['id']}"
    return str(headers["Location"])


@pytest.fixture
async def fed(tmp_path: Path) -> AsyncIterator[Federation]:
    fed = Federation.create(tmp_path, ["ES-CNA", "MA-CNA"], extra_config=EXTRA)
    await fed.start()
    yield fed
    await fed.stop()


async def test_an_upload_in_parts_becomes_an_attachment_that_travels(fed: Federation) -> None:
    data = os.urandom(1_000_000)
    investigator = await ApiClient(fed["ES-CNA"]).login("investigator")
    liaison = await ApiClient(fed["MA-CNA"]).login("liaison")
    try:
        where = await start(investigator, len(data))
        status, headers, _ = await tus(investigator, "HEAD", where)
        assert (status, headers["Upload-Offset"], headers["Upload-Length"]) == (200, "0", "1000000")
        status, headers, _ = await tus(investigator, "PATCH", where, data[:300_001],
                                       Upload_Offset="0")  # fmt: skip
        assert (status, headers["Upload-Offset"]) == (204, "300001")
        # a client that lost the answer asks, and goes on from there
        status, headers, _ = await tus(investigator, "HEAD", where)
        assert headers["Upload-Offset"] == "300001"
        status, headers, stored = await tus(investigator, "PATCH", where, data[300_001:],
                                            Upload_Offset="300001")  # fmt: skip
        assert status == 200, stored
        assert stored["sha256"] == hashlib.sha256(data).hexdigest()
        assert stored["size"] == len(data) and stored["filename"] == "phone.bin"
        assert stored["id"] == where.rsplit("/", 1)[1]
        status, headers, _ = await tus(investigator, "HEAD", where)  # whole: says so
        assert headers["Upload-Offset"] == headers["Upload-Length"] == str(len(data))
        await travels(investigator, liaison, str(stored["id"]), data)
    finally:
        await investigator.close()
        await liaison.close()


async def travels(investigator: ApiClient, liaison: ApiClient, upload: str, data: bytes) -> None:
    """A request with the uploaded attachment reaches MA, whose liaison downloads it
    byte for byte."""
    status, created = await investigator.call(
        "POST", "/api/requests", {**REQUEST, "attachments": [upload]}
    )
    assert status == 201, created
    await arrives(liaison, data)


async def arrives(liaison: ApiClient, data: bytes) -> None:
    """The request with the attachment reaches MA, whose liaison downloads it byte for
    byte."""

    async def incoming() -> str:
        _, inbox = await liaison.call("GET", "/api/inbox")
        return str(inbox["requests"][0]["id"]) if inbox["requests"] else ""

    rid = await wait_until(incoming, what="request with attachment at MA")
    _, view = await liaison.call("GET", f"/api/requests/{rid}")
    attachment = view["messages"][0]["attachments"][0]
    async with liaison.session.get(
        liaison.member.url + f"/api/requests/{rid}/attachments/{attachment['id']}",
        ssl=liaison.ssl,
    ) as response:
        assert response.status == 200 and await response.read() == data


@pytest.mark.slow
async def test_the_node_killed_mid_upload_goes_on_from_what_it_synced(tmp_path: Path) -> None:
    fed = Federation.create(tmp_path, ["ES-CNA"], extra_config=EXTRA)
    es = fed["ES-CNA"]
    log = tmp_path / "es.log"
    proc = spawn(es.data, log)
    data = os.urandom(3_000_000)
    try:
        await wait_until(lambda: healthy(es.url, es.fingerprint), timeout=30, what="ES up")
        client = await ApiClient(es).login("investigator")
        where = await start(client, len(data))
        status, _, _ = await tus(client, "PATCH", where, data[:1_000_000], Upload_Offset="0")
        assert status == 204
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        proc = spawn(es.data, log)
        await wait_until(lambda: healthy(es.url, es.fingerprint), timeout=30, what="ES back")
        await client.close()
        client = await ApiClient(es).login("investigator")
        status, headers, _ = await tus(client, "HEAD", where)
        offset = int(headers["Upload-Offset"])
        # what was synced in whole 64 KiB chunks survives; the tail in memory is asked again
        assert 1_000_000 - 65536 <= offset <= 1_000_000
        status, headers, stored = await tus(client, "PATCH", where, data[offset:],
                                            Upload_Offset=str(offset))  # fmt: skip
        assert status == 200, stored
        assert stored["sha256"] == hashlib.sha256(data).hexdigest()
        await client.close()
    finally:
        proc.kill()
        proc.wait()
