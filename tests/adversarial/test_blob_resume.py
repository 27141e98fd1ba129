"""Resumable blob uploads between nodes (``HEAD`` / ``PATCH /v1/blobs/{sha256}``)
against a hostile peer that speaks the real protocol with its own key: it cannot
touch another sender's upload in progress, append past the length it declared, slip
in a part it did not sign, or make the node keep a blob whose hash differs from its
name; whatever it is refused leaves the upload exactly where it stood."""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from exchange.core.peer_auth import HEADER, sign_call

from ..federation import FAST_DELIVERY, Federation

QUOTA = 2_000_000
EVIDENCE = f"\n[evidence]\npeer_quota_bytes = {QUOTA}\n"
BLOB = os.urandom(600_000)
SHA = hashlib.sha256(BLOB).hexdigest()


@pytest.fixture
async def fed(tmp_path: Path) -> AsyncIterator[Federation]:
    fed = Federation.create(
        tmp_path, ["ES-CNA", "MA-CNA", "FR-CNA"], extra_config=FAST_DELIVERY + EVIDENCE
    )
    await fed.start()
    yield fed
    await fed.stop()


async def call(
    fed: Federation,
    sender: str,
    method: str,
    path: str,
    body: bytes = b"",
    *,
    signed_body: bytes | None = None,
    content_type: str = "application/offset+octet-stream",
) -> tuple[int, Any, Any]:
    """A peer call to ES-CNA as ``sender``'s node signs it, with its own key; the
    signature covers ``signed_body`` (the body itself unless given)."""
    member, now = fed["ES-CNA"], fed.clock.now()
    key = fed[sender].node.keys.current_signing(now)
    digest = hashlib.sha256(body if signed_body is None else signed_body).hexdigest()
    auth = sign_call(method=method, path=path, sender=sender, recipient="ES-CNA", key=key,
                     now=now, body_sha256=digest)  # fmt: skip
    headers = {HEADER: auth}
    if method == "PATCH":
        headers["Content-Type"] = content_type
    async with (
        aiohttp.ClientSession() as session,
        session.request(
            method,
            member.url + path,
            data=body if method == "PATCH" else None,
            headers=headers,
            ssl=aiohttp.Fingerprint(bytes.fromhex(member.fingerprint)),
        ) as response,
    ):
        text = await response.read()
        parsed = await response.json() if text.startswith(b"{") else text
        return response.status, parsed, response.headers


async def patch(
    fed: Federation, sender: str, offset: int, part: bytes, *, length: int = len(BLOB),
    sha: str = SHA, **kwargs: Any,
) -> tuple[int, Any]:  # fmt: skip
    path = f"/v1/blobs/{sha}?offset={offset}&length={length}"
    status, body, _ = await call(fed, sender, "PATCH", path, part, **kwargs)
    return status, body


async def where(fed: Federation, sender: str, sha: str = SHA) -> tuple[int, str, str | None]:
    """HEAD as ``sender``: (status, Upload-Offset, Upload-Length)."""
    status, _, headers = await call(fed, sender, "HEAD", f"/v1/blobs/{sha}")
    return status, headers.get("Upload-Offset"), headers.get("Upload-Length")


def files(fed: Federation) -> dict[str, int]:
    folder = fed["ES-CNA"].data / "blobs"
    return {p.name: p.stat().st_size for p in folder.iterdir()} if folder.exists() else {}


async def held(fed: Federation, peer: str) -> int:
    from exchange.store import blobs

    return await fed["ES-CNA"].node.db.run(lambda c: blobs.held(c, peer))


async def test_an_upload_in_parts_resumes_where_the_node_says_and_completes(
    fed: Federation,
) -> None:
    assert await where(fed, "MA-CNA") == (200, "0", None)
    assert await patch(fed, "MA-CNA", 0, BLOB[:200_000]) == (
        200, {"offset": 200_000, "length": len(BLOB), "complete": False}
    )  # fmt: skip
    assert await where(fed, "MA-CNA") == (200, "200000", str(len(BLOB)))
    assert await held(fed, "MA-CNA") == len(BLOB)  # the declared length counts at once
    status, body = await patch(fed, "MA-CNA", 200_000, BLOB[200_000:])
    assert (status, body["complete"]) == (200, True)
    assert files(fed) == {SHA: len(BLOB)}  # no partial file left
    assert (fed["ES-CNA"].data / "blobs" / SHA).read_bytes() == BLOB
    assert await where(fed, "MA-CNA") == (200, str(len(BLOB)), str(len(BLOB)))
    assert await held(fed, "MA-CNA") == len(BLOB)  # now as a stored, unreferenced blob


async def test_another_peer_cannot_touch_a_senders_upload_in_progress(
    fed: Federation,
) -> None:
    assert (await patch(fed, "MA-CNA", 0, BLOB[:300_000]))[0] == 200
    before = files(fed)
    # FR-CNA, with its own key, tries to append to MA-CNA's upload at its offset ...
    status, body = await patch(fed, "FR-CNA", 300_000, os.urandom(300_000))
    assert (status, body["error"]["code"]) == (409, "offset_mismatch")
    # ... or to start the same blob with other bytes: its own upload, refused at the end
    status, body = await patch(fed, "FR-CNA", 0, os.urandom(len(BLOB)))
    assert (status, body["error"]["code"]) == (400, "malformed")
    assert files(fed) == before
    assert await where(fed, "FR-CNA") == (200, "0", None)
    assert await where(fed, "MA-CNA") == (200, "300000", str(len(BLOB)))
    status, body = await patch(fed, "MA-CNA", 300_000, BLOB[300_000:])
    assert (status, body["complete"]) == (200, True)
    assert (fed["ES-CNA"].data / "blobs" / SHA).read_bytes() == BLOB


async def test_a_part_past_the_declared_length_or_off_its_offset_changes_nothing(
    fed: Federation,
) -> None:
    assert (await patch(fed, "MA-CNA", 0, BLOB[:100_000]))[0] == 200
    before = files(fed)
    refused = [
        (await patch(fed, "MA-CNA", 100_000, BLOB[100_000:] + b"x"), (400, "malformed")),
        (await patch(fed, "MA-CNA", 150_000, BLOB[150_000:]), (409, "offset_mismatch")),
        (await patch(fed, "MA-CNA", 50_000, BLOB[50_000:]), (409, "offset_mismatch")),
        # the declared length cannot change halfway (to grow past what the quota took)
        (await patch(fed, "MA-CNA", 100_000, BLOB[100_000:], length=len(BLOB) + 10),
         (409, "offset_mismatch")),
        (await patch(fed, "MA-CNA", 100_000, b""), (400, "malformed")),
        (await patch(fed, "MA-CNA", 100_000, BLOB[100_000:], content_type="text/plain"),
         (415, "unsupported_media_type")),
    ]  # fmt: skip
    for (status, body), expected in refused:
        assert (status, body["error"]["code"]) == expected
    status, body, _ = await call(
        fed, "MA-CNA", "PATCH", f"/v1/blobs/{SHA}?offset=-1&length=5", b"x"
    )
    assert (status, body["error"]["code"]) == (400, "malformed")
    assert files(fed) == before
    assert await where(fed, "MA-CNA") == (200, "100000", str(len(BLOB)))


async def test_a_part_its_sender_did_not_sign_is_cut_off_again(fed: Federation) -> None:
    assert (await patch(fed, "MA-CNA", 0, BLOB[:100_000]))[0] == 200
    before = files(fed)
    # the signature covers other bytes than the body (a part altered in transit, or
    # written by someone holding only an old header)
    forged = os.urandom(100_000)
    status, body = await patch(fed, "MA-CNA", 100_000, forged, signed_body=BLOB[100_000:200_000])
    assert (status, body["error"]["code"]) == (403, "bad_signature")
    assert files(fed) == before  # the bytes it wrote are cut off
    assert await where(fed, "MA-CNA") == (200, "100000", str(len(BLOB)))
    status, body = await patch(fed, "MA-CNA", 100_000, BLOB[100_000:])
    assert (status, body["complete"]) == (200, True)
    assert (fed["ES-CNA"].data / "blobs" / SHA).read_bytes() == BLOB


async def test_a_blob_whose_hash_differs_from_its_name_is_dropped_whole(
    fed: Federation,
) -> None:
    other = os.urandom(len(BLOB))
    assert (await patch(fed, "MA-CNA", 0, other[:300_000]))[0] == 200
    status, body = await patch(fed, "MA-CNA", 300_000, other[300_000:])
    assert (status, body["error"]["code"]) == (400, "malformed")
    assert files(fed) == {}  # neither the blob nor the partial file
    assert await where(fed, "MA-CNA") == (200, "0", None)
    assert await held(fed, "MA-CNA") == 0


async def test_uploads_in_parts_stay_under_the_quota_and_the_size_limit(
    fed: Federation,
) -> None:
    big = QUOTA - 100_000
    blob = os.urandom(200_000)
    sha = hashlib.sha256(blob).hexdigest()
    assert (await patch(fed, "MA-CNA", 0, blob[:100_000], length=big, sha=sha))[0] == 200
    # a second upload that would pass the quota together with the first: refused
    # before a byte is written
    status, body = await patch(fed, "MA-CNA", 0, BLOB[:100_000])
    assert (status, body["error"]["code"]) == (507, "quota_exceeded")
    assert set(files(fed)) == {n for n in files(fed) if n.startswith(".part-")}
    assert len(files(fed)) == 1
    status, body = await patch(fed, "FR-CNA", 0, BLOB[:10], length=1 << 40)
    assert (status, body["error"]["code"]) == (413, "too_large")
    assert await where(fed, "FR-CNA") == (200, "0", None)


async def test_uploads_left_unfinished_are_dropped_and_free_the_quota(fed: Federation) -> None:
    from datetime import timedelta

    from exchange.core.clock import ManualClock
    from exchange.ops.retention import run_pass

    from ..federation import ApiClient
    from ..node.test_resumable_uploads import start, tus

    es = fed["ES-CNA"]
    assert (await patch(fed, "MA-CNA", 0, BLOB[:100_000]))[0] == 200  # and never more
    investigator = await ApiClient(es).login("investigator")
    try:
        location = await start(investigator, 50_000)
        status, _, _ = await tus(investigator, "PATCH", location, b"x" * 10_000, Upload_Offset="0")
        assert status == 204
    finally:
        await investigator.close()
    assert len(files(fed)) == 2 and await held(fed, "MA-CNA") == len(BLOB)
    soon = ManualClock(fed.clock.now() + timedelta(hours=23))  # inside both grace periods
    assert run_pass(es.node.db, es.config, soon, es.node.vault)["uploads_in_progress_dropped"] == 0
    assert len(files(fed)) == 2
    later = ManualClock(
        fed.clock.now() + es.config.evidence.unreferenced_grace + timedelta(hours=1)
    )
    summary = run_pass(es.node.db, es.config, later, es.node.vault)
    assert summary["uploads_in_progress_dropped"] == 2
    assert files(fed) == {}
    assert await held(fed, "MA-CNA") == 0  # the peer's quota is free again
    assert await where(fed, "MA-CNA") == (200, "0", None)
