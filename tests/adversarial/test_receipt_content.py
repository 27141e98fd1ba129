"""A hostile receiver (MA-CNA's own keys and TLS certificate, speaking the real
protocol) cannot give the sender a receipt that misstates what it received or when:
a receipt naming other content than the evidence document sealed, or a received_at
(or a refusal's refused_at) far from the sender's clock, is refused and the envelope
retried; the receipt the sender keeps names the very document it keeps."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from exchange.core.canonical import canonical_json, sha256_hex
from exchange.core.clock import Clock, SystemClock
from exchange.core.directory import Directory
from exchange.core.envelope import open_
from exchange.core.keys import KeyRing
from exchange.core.receipt import issue_receipt, parse_receipt
from exchange.core.refusal import issue_refusal
from exchange.node.app import server_ssl_context
from exchange.ops.keyfiles import load_keyring
from exchange.store.db import fetch_one
from exchange.store.messages import evidence_record

from ..federation import ApiClient, Federation, wait_until
from ..node.test_clock_skew import SkewedClock

REQUEST = {"to": "MA-CNA", "kind": "information_request", "urgency": "standard",
           "subject": "Boat", "body": "Who owns the boat?", "language": "en"}  # fmt: skip


@dataclass
class HostileReceiver:
    """MA-CNA's node replaced by one that opens envelopes with MA's keys and answers
    with receipts (or refusals) signed by MA's key, lying as ``mode`` says."""

    keys: KeyRing
    directory: Directory
    clock: Clock
    mode: str
    calls: int = 0
    seen: list[bytes] = field(default_factory=list)  # the evidence documents it opened

    async def handle(self, request: web.Request) -> web.Response:
        self.calls += 1
        now = self.clock.now()
        body = json.loads(await request.read())
        results: list[Any] = []
        for item in body["envelopes"]:
            opened = open_(
                base64.b64decode(item),
                directory=self.directory,
                me="MA-CNA",
                keys=self.keys,
                now=now,
            )
            self.seen.append(opened.evidence_json)
            results.append(self._answer(opened.header.msg_id, opened, now))
        return web.Response(
            body=canonical_json({"results": results}), content_type="application/json"
        )

    def _answer(self, msg_id: str, opened: Any, now: datetime) -> Any:
        key = self.keys.current_signing(now)
        evidence = opened.evidence_json
        at = now
        if self.mode == "other_content":
            other = opened.content | {"body": "Nothing was asked."}
            evidence = evidence.replace(canonical_json(opened.content), canonical_json(other))
        elif self.mode == "received_long_ago":
            at = now - timedelta(hours=6)
        elif self.mode == "received_in_the_future":
            at = now + timedelta(minutes=30)
        if self.mode == "refused_long_ago":
            refusal = issue_refusal(
                code="not_found", msg_id=msg_id, sender="ES-CNA", recipient="MA-CNA",
                envelope_sha256=opened.envelope_sha256, refused_at=now - timedelta(hours=6),
                key=key,
            )  # fmt: skip
            error = {"code": "not_found", "message": "no"}
            return {"error": error, "refusal": refusal.to_json()}
        receipt = issue_receipt(
            msg_id=msg_id, sender="ES-CNA", recipient="MA-CNA",
            envelope_sha256=opened.envelope_sha256, evidence_sha256=sha256_hex(evidence),
            received_at=at, log_size=3, key=key,
        )  # fmt: skip
        if self.mode == "receipt_v2":  # a peer on the old version: no log size signed
            old = replace(receipt, log_size=None)
            signed = canonical_json({"ctx": "exchange/receipt/v2", "receipt": old.body()})
            receipt = replace(old, signature=key.sign(signed))
        return {"receipt": receipt.to_json()}


@pytest.fixture
async def fed(tmp_path: Path) -> AsyncIterator[Federation]:
    # keys made a day ago, so a receipt dated hours back is within their validity and
    # only its distance from the sender's clock (running on today) can refuse it
    fed = Federation.create(tmp_path, ["ES-CNA", "MA-CNA"], clock=SkewedClock(-timedelta(days=1)))
    fed.clocks["ES-CNA"] = SystemClock()
    await fed.start("ES-CNA")
    yield fed
    await fed.stop()


async def _serve(fed: Federation, hostile: HostileReceiver) -> web.AppRunner:
    member = fed["MA-CNA"]
    app = web.Application()
    app.router.add_post("/v1/transactions", hostile.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    ssl = server_ssl_context(member.config.tls_cert, member.config.tls_key)
    await web.TCPSite(runner, "127.0.0.1", member.port, ssl_context=ssl).start()
    return runner


async def _row(fed: Federation) -> dict[str, Any]:
    sql = """SELECT m.msg_id, m.receipt, m.evidence_key, m.evidence_doc, o.state,
             o.attempts, o.evidence_sha256 FROM messages m JOIN outbox o USING (msg_id)"""

    def read(conn: Any) -> dict[str, Any]:
        row = fetch_one(conn, sql)
        assert row is not None
        return row

    return await fed["ES-CNA"].node.db.run(read)


@pytest.mark.parametrize(
    "mode",
    [
        "other_content",
        "received_long_ago",
        "received_in_the_future",
        "refused_long_ago",
        "receipt_v2",
    ],
)
async def test_a_receipt_that_misstates_content_or_time_is_refused_and_retried(
    fed: Federation, mode: str
) -> None:
    ma = fed["MA-CNA"]
    hostile = HostileReceiver(load_keyring(ma.data / "keys"), fed.directory(), SystemClock(), mode)
    runner = await _serve(fed, hostile)
    investigator = await ApiClient(fed["ES-CNA"]).login("investigator")
    try:
        status, _ = await investigator.call("POST", "/api/requests", REQUEST)
        assert status == 201
        await wait_until(lambda: hostile.calls >= 3, what="the envelope retried")
        row = await _row(fed)
        assert row["receipt"] is None and row["state"] == "pending" and row["attempts"] >= 2
        refusals = await fed["ES-CNA"].node.db.run(
            lambda c: c.execute("SELECT COUNT(*) FROM refusals").fetchone()[0]
        )
        assert refusals == 0  # a refusal that misstates its time is no evidence either

        # The same receiver, honest now: the receipt is kept, and it names the evidence
        # document the sender sealed and keeps (encrypted at rest).
        hostile.mode = "honest"

        async def receipted() -> bool:
            return (await _row(fed))["receipt"] is not None

        await wait_until(receipted, what="the honest receipt kept")
        row = await _row(fed)
        receipt = parse_receipt(row["receipt"].encode())
        node = fed["ES-CNA"].node
        record = evidence_record("ES-CNA", row["msg_id"])
        kept = node.vault.open(row["evidence_key"], row["evidence_doc"], record=record)
        assert kept == hostile.seen[-1]
        assert receipt.evidence_sha256 == sha256_hex(kept) == row["evidence_sha256"]
        assert b"Who owns the boat?" not in row["evidence_doc"]  # sealed at rest
    finally:
        await investigator.close()
        await runner.cleanup()
