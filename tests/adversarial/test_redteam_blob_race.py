"""The blob collector against a message in flight (issue 15 red team): a peer's blob
past its grace period is named by a message that arrives while a collection pass is
waiting for the database. The intake saw the file before the pass deleted it; the
message must not then be stored and receipted naming a file that is gone (the sender,
holding a receipt, would never send the file again). Real nodes, the real delivery
worker, the real pass; the database thread is held for a moment so that the pass's job
and the intake's queue up in that order, as they do on a busy node."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

from exchange.core.clock import ManualClock
from exchange.ops.retention import collect_unreferenced

from ..federation import FAST_DELIVERY, ApiClient, Federation, wait_until
from .test_blob_collection import EVIDENCE, FILE, FORM, _upload
from .test_blob_quota import put, stored


def _queued(fed: Federation) -> list[str]:
    """The names of the jobs waiting for ES's database thread (observed, not changed)."""
    db = fed["ES-CNA"].node.db
    with db._lock:  # observing the queue is how the test orders the race
        return [getattr(fn, "__qualname__", "") for fn, _ in db._pending]


async def test_a_blob_collected_while_its_message_is_in_flight_is_not_lost(
    tmp_path: Path,
) -> None:
    clock = ManualClock(datetime.now(UTC).replace(microsecond=0))
    fed = Federation.create(
        tmp_path, ["ES-CNA", "MA-CNA"], clock=clock, extra_config=FAST_DELIVERY + EVIDENCE
    )
    fed.publish(valid=timedelta(days=60))
    await fed.start()
    es, ma = fed["ES-CNA"], fed["MA-CNA"]
    sender = await ApiClient(ma).login("investigator")
    release = threading.Event()
    try:
        photo = await _upload(sender, FILE)
        (name,) = stored(fed, "MA-CNA")
        assert await put(fed, "MA-CNA", (ma.data / "blobs" / name).read_bytes()) == 200
        clock.advance(timedelta(hours=25))  # the blob is past its grace at ES
        await sender.close()
        sender = await ApiClient(ma).login("investigator")

        held = threading.Event()

        def holding(_: object) -> bool:
            held.set()
            return release.wait(60)

        hold = asyncio.create_task(es.node.db.run(holding))
        await wait_until(held.is_set, what="ES's database thread held")
        collection = asyncio.create_task(
            asyncio.to_thread(collect_unreferenced, es.node.db, es.config, clock)
        )
        await wait_until(
            lambda: any(q.endswith("collect") for q in _queued(fed)), what="the pass queued"
        )
        status, _ = await sender.call(
            "POST", "/api/requests", {**FORM, "to": "ES-CNA", "attachments": [photo["id"]]}
        )
        assert status == 201
        await wait_until(
            lambda: any(q.endswith("receive") for q in _queued(fed)),
            what="the message checked at ES and queued behind the pass",
        )
        release.set()
        await hold
        assert (await collection)[0] == 1  # the pass deleted the blob file, as it may

        # whatever ES answered MA, the message ends up at ES with its file, byte for byte
        liaison = await ApiClient(es).login("liaison")

        async def opens() -> bool:
            clock.advance(timedelta(seconds=1))  # MA's retry, if ES asked for one, comes due
            _, inbox = await liaison.call("GET", "/api/inbox")
            if not inbox["requests"]:
                return False
            rid = inbox["requests"][0]["id"]
            _, view = await liaison.call("GET", f"/api/requests/{rid}")
            (listed,) = view["messages"][0]["attachments"]
            async with liaison.session.get(
                es.url + f"/api/requests/{rid}/attachments/{listed['id']}", ssl=liaison.ssl
            ) as response:
                return response.status == 200 and await response.read() == FILE

        await wait_until(opens, what="the request and its file at ES")
        await liaison.close()
    finally:
        release.set()
        await sender.close()
        await fed.stop()
