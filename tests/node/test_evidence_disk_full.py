"""Evidence files on a disk that fills: a real filesystem of a few MiB (tmpfs) mounted
on a node's blobs folder. A file that would leave less than ``[evidence]
min_free_bytes`` free is refused up front with ``insufficient_storage`` (507), from the
local API as from a peer; a disk that fills while a part is written refuses that part
with the same code and nothing of it counts; the upload stands where it stood and goes
on once room is made, and the file arrives byte for byte. Never a 500, and the node's
database (on another disk here) goes on committing."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from exchange.core.peer_auth import HEADER, sign_call

from ..disks import MIB, fill, small_disk
from ..federation import FAST_DELIVERY, ApiClient, Federation, all_delivered, wait_until
from ..storage import rows
from .test_attachments import upload
from .test_resumable_uploads import REQUEST, arrives, start, travels, tus

DISK = 8 * MIB
RESERVE = MIB
EXTRA = (
    FAST_DELIVERY
    + f"\n[limits]\nmax_attachment_bytes = {64 * MIB}\n"
    + f"\n[evidence]\nmin_free_bytes = {RESERVE}\n"
)


@pytest.fixture
async def fed(tmp_path: Path) -> AsyncIterator[Federation]:
    fed = Federation.create(tmp_path, ["ES-CNA", "MA-CNA"], extra_config=EXTRA)
    with small_disk(fed["ES-CNA"].data / "blobs"), small_disk(fed["MA-CNA"].data / "blobs"):
        await fed.start()
        try:
            yield fed
        finally:
            await fed.stop()


def blobs(fed: Federation, code: str) -> dict[str, int]:
    folder = fed[code].data / "blobs"
    return {p.name: p.stat().st_size for p in folder.iterdir() if p.name != "filler"}


async def test_an_upload_the_disk_cannot_hold_is_refused_and_goes_on_once_room_is_made(
    fed: Federation,
) -> None:
    folder = fed["ES-CNA"].data / "blobs"
    data = os.urandom(3 * MIB)
    investigator = await ApiClient(fed["ES-CNA"]).login("investigator")
    liaison = await ApiClient(fed["MA-CNA"]).login("liaison")
    try:
        # more than the disk keeps free above the reserve: refused before a byte is kept
        status, _, body = await tus(investigator, "POST", "/api/uploads",
                                    Upload_Length=str(DISK))  # fmt: skip
        assert (status, body["error"]["code"]) == (507, "insufficient_storage")
        assert blobs(fed, "ES-CNA") == {}
        where = await start(investigator, len(data))
        status, headers, _ = await tus(investigator, "PATCH", where, data[:MIB],
                                       Upload_Offset="0")  # fmt: skip
        assert (status, headers["Upload-Offset"]) == (204, str(MIB))
        stored = blobs(fed, "ES-CNA")
        (upload_file,) = stored

        # the disk fills (another writer) while the next part streams in
        async def part() -> AsyncIterator[bytes]:
            yield data[MIB : MIB + 256 * 1024]
            await wait_until(
                lambda: (folder / upload_file).stat().st_size > stored[upload_file],
                what="the first piece of the part on disk",
            )
            fill(folder, 0)
            for at in range(MIB + 256 * 1024, len(data), 256 * 1024):
                yield data[at : at + 256 * 1024]

        status, _, body = await tus(investigator, "PATCH", where, part(), Upload_Offset=str(MIB))
        assert (status, body["error"]["code"]) == (507, "insufficient_storage")
        # nothing of that part counts: the upload stands at the whole chunks synced and
        # committed before it (the first part's last chunk was held back, as it could
        # have been the file's last)
        status, headers, _ = await tus(investigator, "HEAD", where)
        offset = int(headers["Upload-Offset"])
        assert status == 200 and MIB - 64 * 1024 <= offset <= MIB
        # a new upload meanwhile: refused up front, nothing written
        status, _, body = await tus(investigator, "POST", "/api/uploads", Upload_Length="10")
        assert (status, body["error"]["code"]) == (507, "insufficient_storage")
        status, body = await upload(investigator, b"a file sent whole")  # multipart
        assert (status, body["error"]["code"]) == (507, "insufficient_storage")
        assert set(blobs(fed, "ES-CNA")) == {upload_file}
        _, health = await investigator.call("GET", "/v1/health")
        assert health["status"] == "ok"

        (folder / "filler").unlink()  # room made: the client goes on from where it stands
        status, _, done = await tus(investigator, "PATCH", where, data[offset:],
                                    Upload_Offset=str(offset))  # fmt: skip
        assert status == 200, done
        assert done["sha256"] == hashlib.sha256(data).hexdigest()
        await travels(investigator, liaison, str(done["id"]), data)
    finally:
        await investigator.close()
        await liaison.close()


async def test_a_file_being_written_holds_its_room_from_the_next_upload(
    fed: Federation,
) -> None:
    """Two uploads that each fit the disk, but not together: the second is refused up
    front while the first streams in, instead of both starting and one meeting the full
    disk mid-part (and the database with it). A small one still fits beside it."""
    folder = fed["ES-CNA"].data / "blobs"
    data = os.urandom(5 * MIB)
    investigator = await ApiClient(fed["ES-CNA"]).login("investigator")
    try:
        where = await start(investigator, len(data))
        (upload_file,) = blobs(fed, "ES-CNA")
        go_on = asyncio.Event()

        async def slow() -> AsyncIterator[bytes]:
            yield data[:MIB]
            await go_on.wait()
            yield data[MIB:]

        first = asyncio.ensure_future(tus(investigator, "PATCH", where, slow(), Upload_Offset="0"))
        try:
            await wait_until(
                lambda: (folder / upload_file).stat().st_size >= MIB // 2,
                what="the first upload on its way to the disk",
            )
            # ~7 MiB free, 4 MiB of it held by the first upload, 1 MiB kept free
            status, _, body = await tus(investigator, "POST", "/api/uploads",
                                        Upload_Length=str(3 * MIB))  # fmt: skip
            assert (status, body["error"]["code"]) == (507, "insufficient_storage")
            await start(investigator, MIB)  # what is left is there to use
        finally:
            go_on.set()
            status, _, done = await first
        assert status == 200 and done["sha256"] == hashlib.sha256(data).hexdigest()
    finally:
        await investigator.close()


async def test_a_peer_whose_disk_is_full_gets_the_file_once_it_has_room(
    fed: Federation,
) -> None:
    """The sender's delivery worker meets 507 at the peer, keeps the request queued and
    retrying, and delivers it whole once the peer's disk has room."""
    folder = fed["MA-CNA"].data / "blobs"
    fill(folder, 2 * MIB)
    data = os.urandom(3 * MIB)
    investigator = await ApiClient(fed["ES-CNA"]).login("investigator")
    liaison = await ApiClient(fed["MA-CNA"]).login("liaison")
    try:
        where = await start(investigator, len(data))
        status, _, done = await tus(investigator, "PATCH", where, data, Upload_Offset="0")
        assert status == 200, done
        status, created = await investigator.call(
            "POST", "/api/requests", {**REQUEST, "attachments": [done["id"]]}
        )
        assert status == 201, created
        node = fed["ES-CNA"].node

        def refused_twice() -> list[tuple[Any, ...]]:
            sql = "SELECT attempts, last_error FROM outbox WHERE attempts >= 2"
            return rows(fed["ES-CNA"].data, sql)

        (_, error), *_ = await wait_until(refused_twice, what="two attempts refused")
        assert error == "insufficient_storage"  # the peer said why (507): retried, not given up
        assert blobs(fed, "MA-CNA") == {}  # refused before a byte was kept
        _, inbox = await liaison.call("GET", "/api/inbox")
        assert inbox["requests"] == []
        (folder / "filler").unlink()
        await wait_until(lambda: all_delivered(node), what="delivered once room is made")
        await arrives(liaison, data)
    finally:
        await investigator.close()
        await liaison.close()


async def peer_patch(
    fed: Federation, offset: int, body: Any, *, signed: bytes, length: int, sha: str
) -> tuple[int, Any]:
    """A part of a blob, as ES-CNA's node sends it to MA-CNA (signed with its key)."""
    member, now = fed["MA-CNA"], fed.clock.now()
    path = f"/v1/blobs/{sha}?offset={offset}&length={length}"
    auth = sign_call(method="PATCH", path=path, sender="ES-CNA", recipient="MA-CNA",
                     key=fed["ES-CNA"].node.keys.current_signing(now), now=now,
                     body_sha256=hashlib.sha256(signed).hexdigest())  # fmt: skip
    headers = {HEADER: auth, "Content-Type": "application/offset+octet-stream",
               "Content-Length": str(len(signed))}  # fmt: skip
    async with (
        aiohttp.ClientSession() as session,
        session.patch(
            member.url + path, data=body, headers=headers,
            ssl=aiohttp.Fingerprint(bytes.fromhex(member.fingerprint)),
        ) as response,
    ):  # fmt: skip
        text = await response.read()
        return response.status, (await response.json() if text.startswith(b"{") else text)


async def test_a_blob_part_the_peers_disk_cannot_hold_is_cut_and_sent_again(
    fed: Federation,
) -> None:
    folder = fed["MA-CNA"].data / "blobs"
    blob = os.urandom(3 * MIB)
    sha = hashlib.sha256(blob).hexdigest()
    status, body = await peer_patch(fed, 0, blob[:MIB], signed=blob[:MIB], length=len(blob),
                                    sha=sha)  # fmt: skip
    assert (status, body["offset"]) == (200, MIB), body
    (partial,) = blobs(fed, "MA-CNA")
    second = blob[MIB : 2 * MIB]

    async def part() -> AsyncIterator[bytes]:
        yield second[: 256 * 1024]
        fill(folder, 0)  # the disk fills while the part streams in
        for at in range(256 * 1024, MIB, 256 * 1024):
            yield second[at : at + 256 * 1024]

    status, body = await peer_patch(fed, MIB, part(), signed=second, length=len(blob), sha=sha)
    assert (status, body["error"]["code"]) == (507, "insufficient_storage")
    assert blobs(fed, "MA-CNA") == {partial: MIB}  # cut back to what was verified
    (folder / "filler").unlink()
    status, body = await peer_patch(fed, MIB, second, signed=second, length=len(blob), sha=sha)
    assert (status, body["offset"]) == (200, 2 * MIB), body
    status, body = await peer_patch(fed, 2 * MIB, blob[2 * MIB :], signed=blob[2 * MIB :],
                                    length=len(blob), sha=sha)  # fmt: skip
    assert (status, body["complete"]) == (200, True), body
    assert (folder / sha).read_bytes() == blob


async def test_a_16_gib_file_is_taken_where_the_limit_and_the_disk_allow_it(
    tmp_path: Path,
) -> None:
    """Phone extractions of 16 GiB: with ``max_attachment_bytes`` raised to 16 GiB and
    a disk of 18 GiB (a tmpfs takes memory only for what is written; 1 GiB is kept
    free), the upload is taken and stands at its parts; one byte more than the limit is
    ``too_large``."""
    limit = 16 * 1024 * MIB
    extra = FAST_DELIVERY + f"\n[limits]\nmax_attachment_bytes = {limit}\n"
    fed = Federation.create(tmp_path, ["ES-CNA"], extra_config=extra)
    with small_disk(fed["ES-CNA"].data / "blobs", size=limit + 2048 * MIB):
        await fed.start()
        investigator = await ApiClient(fed["ES-CNA"]).login("investigator")
        try:
            status, _, body = await tus(investigator, "POST", "/api/uploads",
                                        Upload_Length=str(limit + 1))  # fmt: skip
            assert (status, body["error"]["code"]) == (413, "too_large")
            where = await start(investigator, limit)
            status, headers, said = await tus(investigator, "PATCH", where, os.urandom(MIB),
                                              Upload_Offset="0")  # fmt: skip
            assert (status, headers.get("Upload-Offset")) == (204, str(MIB)), said
            status, headers, _ = await tus(investigator, "HEAD", where)
            assert (status, headers["Upload-Length"]) == (200, str(limit))
        finally:
            await investigator.close()
            await fed.stop()
