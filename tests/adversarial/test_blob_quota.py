"""A hostile peer uploading blobs with its real key through the real protocol
(``PUT /v1/blobs/{sha256}``, signed as workers/blobs.upload_blobs signs it): what it
holds here unreferenced stays under its quota, concurrent uploads and lying bodies
included, and nothing it was refused stays behind; another peer is not affected."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from exchange.core.errors import QuotaExceeded
from exchange.core.peer_auth import HEADER, sign_call
from exchange.service import evidence

from ..federation import FAST_DELIVERY, Federation, wait_until

QUOTA = 350_000
EVIDENCE = f"\n[evidence]\npeer_quota_bytes = {QUOTA}\n"
Body = bytes | AsyncIterator[bytes]


@pytest.fixture
async def fed(tmp_path: Path) -> AsyncIterator[Federation]:
    fed = Federation.create(
        tmp_path, ["ES-CNA", "MA-CNA", "FR-CNA"], extra_config=FAST_DELIVERY + EVIDENCE
    )
    await fed.start()
    yield fed
    await fed.stop()


async def peer_put(
    fed: Federation,
    sender: str,
    recipient: str,
    body: Body,
    *,
    sha256: str,
    length: int | None,
) -> tuple[int, Any]:
    """``PUT /v1/blobs/{sha256}`` as ``sender``'s node signs it, with its own key;
    ``length`` the Content-Length it declares (None: a chunked body)."""
    member, path, now = fed[recipient], f"/v1/blobs/{sha256}", fed.clock.now()
    key = fed[sender].node.keys.current_signing(now)
    auth = sign_call(method="PUT", path=path, sender=sender, recipient=recipient, key=key,
                     now=now, body_sha256=sha256)  # fmt: skip
    headers = {HEADER: auth, "Content-Type": "application/octet-stream"}
    if length is not None:
        headers["Content-Length"] = str(length)
    async with (
        aiohttp.ClientSession() as session,
        session.put(
            member.url + path,
            data=body,
            headers=headers,
            ssl=aiohttp.Fingerprint(bytes.fromhex(member.fingerprint)),
        ) as response,
    ):
        text = await response.read()
        return response.status, (await response.json() if text.startswith(b"{") else text)


async def put(fed: Federation, sender: str, blob: bytes, recipient: str = "ES-CNA") -> int:
    sha = hashlib.sha256(blob).hexdigest()
    status, _ = await peer_put(fed, sender, recipient, blob, sha256=sha, length=len(blob))
    return status


def stored(fed: Federation, authority_id: str = "ES-CNA") -> set[str]:
    """Every file in the blobs folder, temporary ones included."""
    folder = fed[authority_id].data / "blobs"
    return {p.name for p in folder.iterdir()} if folder.exists() else set()


async def held(fed: Federation, peer: str) -> int:
    from exchange.store import blobs

    return await fed["ES-CNA"].node.db.run(lambda c: blobs.held(c, peer))


async def test_a_peer_filling_its_quota_is_refused_and_stores_nothing_more(
    fed: Federation,
) -> None:
    for _ in range(3):  # 300 000 bytes: under the quota
        assert await put(fed, "MA-CNA", os.urandom(100_000)) == 200
    before = stored(fed)
    over = os.urandom(100_000)
    sha = hashlib.sha256(over).hexdigest()
    status, body = await peer_put(fed, "MA-CNA", "ES-CNA", over, sha256=sha, length=len(over))
    assert (status, body["error"]["code"]) == (507, "quota_exceeded")
    assert stored(fed) == before  # neither the blob nor a temporary file

    # without a Content-Length the upload is charged the most a blob may be: refused
    # before a byte is written, however small the body really is
    async def chunked() -> AsyncIterator[bytes]:
        yield over[:10]

    small = hashlib.sha256(over[:10]).hexdigest()
    status, body = await peer_put(fed, "MA-CNA", "ES-CNA", chunked(), sha256=small, length=None)
    assert (status, body["error"]["code"]) == (507, "quota_exceeded")
    assert stored(fed) == before
    assert await held(fed, "MA-CNA") == 300_000  # no reservation left behind

    # another peer has its own quota
    assert await put(fed, "FR-CNA", os.urandom(100_000)) == 200


async def test_concurrent_uploads_from_one_peer_cannot_together_pass_the_quota(
    fed: Federation,
) -> None:
    first, second = os.urandom(200_000), os.urandom(200_000)
    release = asyncio.Event()

    async def slow() -> AsyncIterator[bytes]:
        yield first[:65536]
        await release.wait()  # the first upload is in progress until the test says
        yield first[65536:]

    sha = hashlib.sha256(first).hexdigest()
    upload = asyncio.create_task(
        peer_put(fed, "MA-CNA", "ES-CNA", slow(), sha256=sha, length=len(first))
    )
    try:

        async def reserved() -> bool:
            return any(n.startswith(".peer-") for n in stored(fed))

        await wait_until(reserved, what="the first upload streaming")
        status, body = await peer_put(fed, "MA-CNA", "ES-CNA", second,
                                      sha256=hashlib.sha256(second).hexdigest(),
                                      length=len(second))  # fmt: skip
        assert (status, body["error"]["code"]) == (507, "quota_exceeded")
    finally:
        release.set()
        status, _ = await upload
    assert status == 200
    assert stored(fed) == {sha}
    assert await held(fed, "MA-CNA") == 200_000


async def test_a_lying_content_length_stores_nothing_and_reserves_nothing(
    fed: Federation,
) -> None:
    assert await put(fed, "MA-CNA", os.urandom(100_000)) == 200
    before = stored(fed)
    big = os.urandom(600_000)  # over the quota, declared as 100 000 bytes
    sha = hashlib.sha256(big).hexdigest()
    try:  # the node reads only what was declared, which does not match the blob's name
        status, body = await peer_put(fed, "MA-CNA", "ES-CNA", big, sha256=sha, length=100_000)
        assert (status, body["error"]["code"]) == (400, "malformed")
    except aiohttp.ClientError:  # or it drops the connection that lied first
        pass
    assert stored(fed) == before
    assert await held(fed, "MA-CNA") == 100_000  # its reservation was released

    # behind a front end that does not cut a body at its Content-Length, the stream
    # itself is held to what was declared (and reserved)
    async def lying() -> AsyncIterator[bytes]:
        for start in range(0, len(big), 65536):
            yield big[start : start + 65536]

    node = fed["ES-CNA"].node
    with pytest.raises(QuotaExceeded):
        await evidence.store_blob(node, sha, lying(), peer="MA-CNA", size_hint=100_000)
    assert stored(fed) == before
    assert await held(fed, "MA-CNA") == 100_000
    assert await put(fed, "MA-CNA", os.urandom(100_000)) == 200  # and it may go on
