"""Resumable uploads of the local API against a hostile user of the same node: another
account's upload cannot be read, written or finished; a part at another offset, past
the declared length, over the limit or of another type changes nothing; one account
cannot open uploads without end."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from exchange.ops.provision import add_user

from ..federation import FAST_DELIVERY, PASSWORD, ApiClient, Federation
from ..node.test_resumable_uploads import LIMIT, metadata, start, tus


@pytest.fixture
async def fed(tmp_path: Path) -> AsyncIterator[Federation]:
    extra = FAST_DELIVERY + f"\n[limits]\nmax_attachment_bytes = {LIMIT}\n"
    fed = Federation.create(tmp_path, ["ES-CNA"], extra_config=extra)
    add_user(fed["ES-CNA"].data, username="investigator2", password=PASSWORD, role="investigator")
    await fed.start()
    yield fed
    await fed.stop()


def files(fed: Federation) -> dict[str, int]:
    folder = fed["ES-CNA"].data / "blobs"
    return {p.name: p.stat().st_size for p in folder.iterdir()}


async def test_a_refused_part_leaves_the_upload_where_it_stood(fed: Federation) -> None:
    owner = await ApiClient(fed["ES-CNA"]).login("investigator")
    other = await ApiClient(fed["ES-CNA"]).login("investigator2")
    auditor = await ApiClient(fed["ES-CNA"]).login("auditor")
    data = os.urandom(200_000)
    try:
        where = await start(owner, len(data))
        status, _, _ = await tus(owner, "PATCH", where, data[:100_000], Upload_Offset="0")
        assert status == 204
        before = files(fed)
        refused = [
            # another account: as if the upload did not exist
            (await tus(other, "PATCH", where, data[100_000:], Upload_Offset="100000"),
             (404, "not_found")),
            (await tus(other, "HEAD", where), (404, None)),
            (await tus(auditor, "PATCH", where, data[100_000:], Upload_Offset="100000"),
             (403, "forbidden")),
            # the owner, at another offset, past the length, or of another type
            (await tus(owner, "PATCH", where, data[50_000:], Upload_Offset="50000"),
             (409, "offset_mismatch")),
            (await tus(owner, "PATCH", where, data[100_000:] + b"x", Upload_Offset="100000"),
             (400, "malformed")),
            (await tus(owner, "PATCH", where, data[100_000:], Upload_Offset="-1"),
             (400, "malformed")),
        ]  # fmt: skip
        for (status, _, body), (code, error) in refused:
            assert status == code, body
            if error is not None:
                assert body["error"]["code"] == error
        async with owner.session.patch(
            owner.member.url + where, data=data[100_000:], ssl=owner.ssl,
            headers={"X-CSRF-Token": owner.csrf, "Upload-Offset": "100000",
                     "Content-Type": "application/octet-stream"},
        ) as response:  # fmt: skip
            assert response.status == 415
        assert files(fed) == before
        status, headers, _ = await tus(owner, "HEAD", where)
        assert headers["Upload-Offset"] == "100000"
        status, _, stored = await tus(owner, "PATCH", where, data[100_000:],
                                      Upload_Offset="100000")  # fmt: skip
        assert status == 200, stored
    finally:
        for client in (owner, other, auditor):
            await client.close()


async def test_uploads_are_bounded_in_size_and_number(fed: Federation) -> None:
    owner = await ApiClient(fed["ES-CNA"]).login("investigator")
    try:
        status, _, body = await tus(owner, "POST", "/api/uploads", Upload_Length=str(LIMIT + 1))
        assert (status, body["error"]["code"]) == (413, "too_large")
        status, _, body = await tus(owner, "POST", "/api/uploads", Upload_Length="12",
                                    Upload_Metadata="filename not-base64!")  # fmt: skip
        assert (status, body["error"]["code"]) == (400, "malformed")
        status, _, body = await tus(owner, "POST", "/api/uploads")
        assert (status, body["error"]["code"]) == (400, "malformed")
        for _ in range(20):
            await start(owner, 1000)
        status, _, body = await tus(owner, "POST", "/api/uploads", Upload_Length="1000",
                                    Upload_Metadata=metadata("x", "text/plain"))  # fmt: skip
        assert (status, body["error"]["code"]) == (409, "conflict")
    finally:
        await owner.close()
