"""A hostile peer cannot fill a node's disk past ``[evidence] min_free_bytes`` by sending
two blobs at once that each fit alone: the part being written holds the room of the
rest of its blob, and the second blob is refused up front with 507
``insufficient_storage`` (a real 8 MiB tmpfs on the receiver's blobs folder)."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator

from ..disks import MIB
from ..federation import Federation, wait_until
from ..node.test_evidence_disk_full import blobs, fed, peer_patch

__all__ = ["fed"]  # the fixture: MA-CNA's and ES-CNA's blobs folders on 8 MiB tmpfs


async def test_two_blobs_at_once_cannot_take_the_room_kept_free(fed: Federation) -> None:
    first, second = os.urandom(5 * MIB), os.urandom(3 * MIB)
    sha1, sha2 = (hashlib.sha256(b).hexdigest() for b in (first, second))
    go_on = asyncio.Event()

    async def slow() -> AsyncIterator[bytes]:
        yield first[:MIB]
        await go_on.wait()
        yield first[MIB:]

    sending = asyncio.ensure_future(
        peer_patch(fed, 0, slow(), signed=first, length=len(first), sha=sha1)
    )
    try:
        await wait_until(
            lambda: any(size >= MIB // 2 for size in blobs(fed, "MA-CNA").values()),
            what="the first blob on its way to MA's disk",
        )
        status, body = await peer_patch(fed, 0, second, signed=second, length=len(second),
                                        sha=sha2)  # fmt: skip
        assert (status, body["error"]["code"]) == (507, "insufficient_storage")
    finally:
        go_on.set()
        status, body = await sending
    assert (status, body["complete"]) == (200, True), body
    assert (fed["MA-CNA"].data / "blobs" / sha1).read_bytes() == first
    assert sha2 not in blobs(fed, "MA-CNA")
