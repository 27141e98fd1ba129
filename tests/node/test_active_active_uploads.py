"""A resumable upload (tus) whose parts reach different processes of one authority, as
behind a load balancer (``[cluster] active_active``): each process goes on from what
the database and the file hold, not from its own memory, and the attachment that
results is whole and travels to the peer."""

from __future__ import annotations

import dataclasses
import hashlib
import os
from pathlib import Path

from exchange.core.evidence import CHUNK
from exchange.node.runner import start_node

from ..federation import ApiClient, Federation, Member, free_port
from .test_resumable_uploads import EXTRA, start, travels, tus

CLUSTER = EXTRA + "\n[cluster]\nactive_active = true\n"


async def test_an_upload_continued_in_another_process_is_whole(tmp_path: Path) -> None:
    fed = Federation.create(tmp_path, ["ES-CNA", "MA-CNA"], extra_config=CLUSTER)
    await fed.start()
    a = fed["ES-CNA"]
    b = Member("ES-CNA", a.data, free_port())
    b.running = await start_node(dataclasses.replace(a.config, listen_port=b.port), clock=fed.clock)
    data = os.urandom(1_500_000)
    investigator = await ApiClient(a).login("investigator")
    liaison = await ApiClient(fed["MA-CNA"]).login("liaison")
    try:
        where = await start(investigator, len(data))  # created in A
        status, headers, _ = await tus(investigator, "PATCH", where, data[:500_000],
                                       Upload_Offset="0")  # fmt: skip
        # what any process can go on from: the whole 64 KiB chunks synced (before:
        # A said 500000, which B did not hold, and a client that believed it was refused)
        assert (status, headers["Upload-Offset"]) == (204, str(7 * CHUNK))
        investigator.member = b  # the balancer sends the rest to B
        status, headers, _ = await tus(investigator, "HEAD", where)
        assert (status, headers["Upload-Offset"]) == (200, str(7 * CHUNK))
        # a stale offset is refused, and so is a part too small to make progress
        status, _, _ = await tus(investigator, "PATCH", where, data[:100], Upload_Offset="0")
        assert status == 409
        status, _, refused = await tus(investigator, "PATCH", where,
                                       data[7 * CHUNK : 7 * CHUNK + 1000],
                                       Upload_Offset=str(7 * CHUNK))  # fmt: skip
        assert (status, refused["error"]["code"]) == (400, "malformed"), refused
        status, headers, _ = await tus(investigator, "PATCH", where,
                                       data[7 * CHUNK : 1_000_000],
                                       Upload_Offset=str(7 * CHUNK))  # fmt: skip
        assert (status, headers["Upload-Offset"]) == (204, str(15 * CHUNK))
        investigator.member = a  # and the last part to A again
        status, headers, stored = await tus(investigator, "PATCH", where, data[15 * CHUNK :],
                                            Upload_Offset=str(15 * CHUNK))  # fmt: skip
        assert status == 200, stored
        assert stored["sha256"] == hashlib.sha256(data).hexdigest()
        await travels(investigator, liaison, str(stored["id"]), data)
    finally:
        await investigator.close()
        await liaison.close()
        await b.running.stop()
        await fed.stop()
