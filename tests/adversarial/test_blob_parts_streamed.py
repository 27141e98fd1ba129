"""Parts of several MiB, which the receiver hashes and writes in a worker thread while
it reads the next MiB from the network (``service/blob_parts.py``): a hostile peer that
signs other bytes than it sends, or breaks the connection off in the middle of a part,
leaves the upload exactly where it stood, on disk and in what ``HEAD`` answers."""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from exchange.core.peer_auth import HEADER, sign_call

from ..federation import FAST_DELIVERY, Federation, wait_until
from .test_blob_resume import files, patch, where

MiB = 1 << 20
BLOB = os.urandom(6 * MiB + 12_345)
SHA = hashlib.sha256(BLOB).hexdigest()
FIRST = 2 * MiB + 1  # the first part; the second one is the rest (4 MiB and more)
EVIDENCE = f"\n[evidence]\npeer_quota_bytes = {64 * MiB}\n"


@pytest.fixture
async def fed(tmp_path: Path) -> AsyncIterator[Federation]:
    fed = Federation.create(tmp_path, ["ES-CNA", "MA-CNA"], extra_config=FAST_DELIVERY + EVIDENCE)
    await fed.start()
    yield fed
    await fed.stop()


def partial(fed: Federation) -> int:
    """The size of MA-CNA's partial file at ES-CNA."""
    sizes = [size for name, size in files(fed).items() if name.startswith(".part-")]
    assert len(sizes) == 1, files(fed)
    return sizes[0]


async def test_a_large_part_signed_over_other_bytes_is_cut_off_whole(fed: Federation) -> None:
    assert (await patch(fed, "MA-CNA", 0, BLOB[:FIRST], sha=SHA, length=len(BLOB)))[0] == 200
    assert partial(fed) == FIRST
    # one byte differs, in the last MiB (flipped: a fixed byte was the blob's own last
    # byte once in 256 runs, and the "forgery" then was the real part, rightly taken)
    forged = BLOB[FIRST:-1] + bytes([BLOB[-1] ^ 0xFF])
    assert forged != BLOB[FIRST:]
    status, body = await patch(
        fed, "MA-CNA", FIRST, forged, sha=SHA, length=len(BLOB), signed_body=BLOB[FIRST:]
    )
    assert (status, body["error"]["code"]) == (403, "bad_signature")
    assert partial(fed) == FIRST  # every MiB it wrote, cut off again
    assert await where(fed, "MA-CNA", SHA) == (200, str(FIRST), str(len(BLOB)))
    status, body = await patch(fed, "MA-CNA", FIRST, BLOB[FIRST:], sha=SHA, length=len(BLOB))
    assert (status, body["complete"]) == (200, True)
    assert (fed["ES-CNA"].data / "blobs" / SHA).read_bytes() == BLOB


async def test_a_part_broken_off_mid_body_leaves_the_upload_where_it_stood(
    fed: Federation,
) -> None:
    assert (await patch(fed, "MA-CNA", 0, BLOB[:FIRST], sha=SHA, length=len(BLOB)))[0] == 200
    member, now = fed["ES-CNA"], fed.clock.now()
    path = f"/v1/blobs/{SHA}?offset={FIRST}&length={len(BLOB)}"
    rest = BLOB[FIRST:]
    auth = sign_call(method="PATCH", path=path, sender="MA-CNA", recipient="ES-CNA",
                     key=fed["MA-CNA"].node.keys.current_signing(now), now=now,
                     body_sha256=hashlib.sha256(rest).hexdigest())  # fmt: skip

    async def three_mib_then_gone() -> AsyncIterator[bytes]:
        for start in range(0, 3 * MiB, MiB // 4):
            yield rest[start : start + MiB // 4]
        raise ConnectionAbortedError("the sender goes away mid-part")

    headers = {HEADER: auth, "Content-Type": "application/offset+octet-stream",
               "Content-Length": str(len(rest))}  # fmt: skip
    async with aiohttp.ClientSession() as session:
        with pytest.raises((aiohttp.ClientError, ConnectionAbortedError)):
            async with session.patch(
                member.url + path, data=three_mib_then_gone(), headers=headers,
                ssl=aiohttp.Fingerprint(bytes.fromhex(member.fingerprint)),
            ) as response:  # fmt: skip
                await response.read()

    async def ended() -> bool:  # a part at a wrong offset is refused as busy until then
        status, body = await patch(fed, "MA-CNA", 0, b"x", sha=SHA, length=len(BLOB))
        return (status, body["error"]["code"]) == (409, "offset_mismatch")

    await wait_until(ended, what="ES's handler of the broken part ended")
    assert partial(fed) == FIRST  # what it wrote of the broken part, cut off
    assert await where(fed, "MA-CNA", SHA) == (200, str(FIRST), str(len(BLOB)))
    status, body = await patch(fed, "MA-CNA", FIRST, rest, sha=SHA, length=len(BLOB))
    assert (status, body["complete"]) == (200, True)
    assert (fed["ES-CNA"].data / "blobs" / SHA).read_bytes() == BLOB
    assert set(files(fed)) == {SHA}
