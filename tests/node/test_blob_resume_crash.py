"""The receiving node is killed with SIGKILL halfway through an evidence file and
restarted: the transfer resumes from the last part it verified, nothing it verified
is sent again, and the file arrives whole."""

from __future__ import annotations

import hashlib
import os
import signal
from pathlib import Path

import aiohttp
import pytest
from structlog.testing import capture_logs

from ..federation import FAST_DELIVERY, ApiClient, Federation, wait_until
from ..storage import rows
from .test_crash import healthy, spawn

pytestmark = pytest.mark.slow
PART = 64 * 1024
SIZE = 8 * 1024 * 1024
EXTRA = FAST_DELIVERY + (
    f"\n[limits]\nmax_attachment_bytes = {SIZE}\n\n[evidence]\npart_bytes = {PART}\n"
)


def verified(data: Path) -> int:
    """What the receiver has committed of uploads in progress (read-only; 0 if none)."""
    return int(rows(data, "SELECT COALESCE(MAX(verified), 0) FROM blob_parts")[0][0])


async def test_receiver_killed_mid_transfer_resumes_without_resending(tmp_path: Path) -> None:
    fed = Federation.create(tmp_path, ["ES-CNA", "MA-CNA"], extra_config=EXTRA)
    await fed.start("MA-CNA")
    es, ma = fed["ES-CNA"], fed["MA-CNA"]
    log = tmp_path / "es.log"
    proc = spawn(es.data, log)
    data = os.urandom(SIZE - 4096)
    try:
        await wait_until(lambda: healthy(es.url, es.fingerprint), timeout=30, what="ES up")
        client = await ApiClient(ma).login("investigator")
        form = aiohttp.FormData()
        form.add_field("file", data, filename="extraction.bin")
        async with client.session.post(
            ma.url + "/api/attachments", data=form, headers={"X-CSRF-Token": client.csrf},
            ssl=client.ssl,
        ) as response:  # fmt: skip
            uploaded = await response.json()
            assert response.status == 201, uploaded
        with capture_logs() as events:
            status, created = await client.call(
                "POST", "/api/requests",
                {"to": "ES-CNA", "kind": "information_request", "urgency": "urgent",
                 "subject": "Phone", "body": "Extraction attached.", "language": "en",
                 "attachments": [uploaded["id"]]},
            )  # fmt: skip
            assert status == 201, created
            await wait_until(
                lambda: verified(es.data) >= SIZE // 4, timeout=60,
                what="a quarter of the blob verified at ES",
            )  # fmt: skip
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            at_kill = verified(es.data)
            assert at_kill < SIZE - PART  # killed mid-transfer, not after it
            proc = spawn(es.data, log)
            await wait_until(lambda: healthy(es.url, es.fingerprint), timeout=30, what="ES back")

            async def receipted() -> bool:
                row = await ma.node.db.run(
                    lambda c: c.execute(
                        "SELECT receipt IS NOT NULL FROM messages WHERE msg_id = ?",
                        (created["msg_id"],),
                    ).fetchone()
                )
                return bool(row and row[0])

            await wait_until(receipted, timeout=60, what="the request receipted at MA")
        transfers = [e for e in events if e["event"] == "blob_parts_sent"]
        blob_size = transfers[0]["size"]
        # after the restart the sender went on from exactly what ES had committed ...
        assert at_kill in [t["resumed_from"] for t in transfers[1:]]
        # ... and re-sent at most the one part that was on the wire when ES died
        resent = sum(t["bytes_sent"] for t in transfers) - blob_size
        assert 0 <= resent <= PART, transfers
        blob = await ma.node.db.run(
            lambda c: c.execute(
                "SELECT blob_sha256, sent_bytes, blob_size FROM attachments WHERE id = ?",
                (uploaded["id"],),
            ).fetchone()
        )
        assert blob[1] == blob[2] == blob_size  # the request page's progress: all of it
        stored = es.data / "blobs" / blob[0]
        assert hashlib.sha256(stored.read_bytes()).hexdigest() == blob[0]
        assert [p.name for p in (es.data / "blobs").iterdir()] == [blob[0]]  # no partials
        await client.close()
    finally:
        proc.kill()
        proc.wait()
        await fed.stop()
