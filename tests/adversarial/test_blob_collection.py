"""Blobs a peer uploads and never names in a message are collected after the grace
period, once per pass in the audit log; blobs a message, a draft or an upload in
progress needs are kept, young ones too, and a message delivered after its blobs
still opens. Real nodes, a manual clock, the hostile peer's own key."""

from __future__ import annotations

import hashlib
import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp

from exchange.core.clock import ManualClock
from exchange.ops.audit_check import verify_data_dir
from exchange.ops.retention import run_pass

from ..federation import FAST_DELIVERY, ApiClient, Federation, wait_until
from .test_blob_quota import held, peer_put, put, stored

EVIDENCE = "\n[evidence]\npeer_quota_bytes = 350000\nunreferenced_grace_hours = 24\n"
FILE = os.urandom(140_000)
FORM = {"kind": "information_request", "urgency": "urgent", "subject": "Photo",
        "body": "Who is on it?", "language": "en"}  # fmt: skip


async def _upload(client: ApiClient, data: bytes) -> dict[str, Any]:
    form = aiohttp.FormData()
    form.add_field("file", data, filename="photo.jpg", content_type="image/jpeg")
    async with client.session.post(
        client.member.url + "/api/attachments",
        data=form,
        headers={"X-CSRF-Token": client.csrf},
        ssl=client.ssl,
    ) as r:
        assert r.status == 201
        return dict(await r.json())


async def _collections(fed: Federation) -> list[dict[str, Any]]:
    """The ``blobs_collected`` entries of ES's audit log."""
    entries = await fed["ES-CNA"].node.db.run(
        lambda c: [json.loads(bytes(r[0])) for r in c.execute(
            "SELECT entry FROM audit_entries ORDER BY idx").fetchall()]
    )  # fmt: skip
    return [e for e in entries if e["action"] == "blobs_collected"]


async def test_unreferenced_blobs_are_collected_after_the_grace_period(tmp_path: Path) -> None:
    clock = ManualClock(datetime.now(UTC).replace(microsecond=0))
    fed = Federation.create(
        tmp_path, ["ES-CNA", "MA-CNA"], clock=clock, extra_config=FAST_DELIVERY + EVIDENCE
    )
    fed.publish(valid=timedelta(days=60))
    await fed.start()
    es, ma = fed["ES-CNA"], fed["MA-CNA"]
    sender = await ApiClient(ma).login("investigator")
    investigator = await ApiClient(es).login("investigator")
    try:
        # MA's file, sent ahead of its message as its delivery worker would; and a blob
        # MA never names in any message
        photo = await _upload(sender, FILE)
        (name,) = stored(fed, "MA-CNA")
        legit = (ma.data / "blobs" / name).read_bytes()
        assert await put(fed, "MA-CNA", legit) == 200
        orphan = os.urandom(150_000)
        assert await put(fed, "MA-CNA", orphan) == 200
        assert await put(fed, "MA-CNA", os.urandom(100_000)) == 507  # its quota is full
        # ES's own: a file kept for a draft, and an upload still streaming
        kept = await _upload(investigator, b"kept for a draft " * 1000)
        status, _ = await investigator.call(
            "POST", "/api/drafts", {**FORM, "to": "MA-CNA", "attachments": [kept["id"]]}
        )
        assert status == 201
        (es.data / "blobs" / ".upload-0123456789abcdef").write_bytes(b"in progress")
        before = stored(fed)

        clock.advance(timedelta(hours=23))  # inside the grace period: nothing goes
        summary = run_pass(es.node.db, es.config, clock, es.node.vault)
        assert summary["unreferenced_blobs_collected"] == 0
        assert stored(fed) == before

        # MA's message arrives after its blob: accepted, and the blob no longer counts
        await sender.close()
        sender = await ApiClient(ma).login("investigator")  # sessions last 8 hours
        status, _ = await sender.call(
            "POST", "/api/requests", {**FORM, "to": "ES-CNA", "attachments": [photo["id"]]}
        )
        assert status == 201
        liaison = await ApiClient(es).login("liaison")

        async def incoming() -> str:
            _, inbox = await liaison.call("GET", "/api/inbox")
            return str(inbox["requests"][0]["id"]) if inbox["requests"] else ""

        rid = await wait_until(incoming, what="request with its file at ES")
        assert await held(fed, "MA-CNA") == len(orphan)
        young = os.urandom(100_000)
        assert await put(fed, "MA-CNA", young) == 200  # room again

        clock.advance(timedelta(hours=2))  # the orphan is 25 hours old, `young` 2 hours
        summary = run_pass(es.node.db, es.config, clock, es.node.vault)
        assert summary["unreferenced_blobs_collected"] == 1
        assert summary["unreferenced_bytes_collected"] == len(orphan)
        orphan_sha = hashlib.sha256(orphan).hexdigest()
        young_sha = hashlib.sha256(young).hexdigest()
        assert stored(fed) == (before - {orphan_sha}) | {young_sha}
        assert await held(fed, "MA-CNA") == len(young)

        collected = await _collections(fed)
        assert len(collected) == 1
        entry = collected[0]
        assert (entry["count"], entry["bytes"], entry["blob_sha256s"]) == (
            1,
            len(orphan),
            [orphan_sha],
        )
        assert entry["actor"] == "retention"
        assert verify_data_dir(es.data).ok
        # a second pass has nothing more to collect and writes no entry
        assert (
            run_pass(es.node.db, es.config, clock, es.node.vault)["unreferenced_blobs_collected"]
            == 0
        )
        assert await _collections(fed) == collected

        # the message delivered after its blob still opens, byte for byte
        _, view = await liaison.call("GET", f"/api/requests/{rid}")
        (listed,) = view["messages"][0]["attachments"]
        async with liaison.session.get(
            es.url + f"/api/requests/{rid}/attachments/{listed['id']}", ssl=liaison.ssl
        ) as response:
            assert response.status == 200 and await response.read() == FILE
        await liaison.close()
    finally:
        await sender.close()
        await investigator.close()
        await fed.stop()


async def test_a_collected_blob_may_be_sent_again(tmp_path: Path) -> None:
    clock = ManualClock(datetime.now(UTC).replace(microsecond=0))
    fed = Federation.create(
        tmp_path, ["ES-CNA", "MA-CNA"], clock=clock, extra_config=FAST_DELIVERY + EVIDENCE
    )
    fed.publish(valid=timedelta(days=60))
    await fed.start()
    try:
        blob = os.urandom(120_000)
        sha = hashlib.sha256(blob).hexdigest()
        assert await put(fed, "MA-CNA", blob) == 200
        clock.advance(timedelta(hours=25))
        es = fed["ES-CNA"]
        assert (
            run_pass(es.node.db, es.config, clock, es.node.vault)["unreferenced_blobs_collected"]
            == 1
        )
        assert await held(fed, "MA-CNA") == 0
        status, body = await peer_put(fed, "MA-CNA", "ES-CNA", blob, sha256=sha, length=len(blob))
        assert status == 200, body
        assert sha in stored(fed) and await held(fed, "MA-CNA") == len(blob)
    finally:
        await fed.stop()
