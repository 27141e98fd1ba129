"""Witnessing that can neither be fooled nor cry wolf (issue 15, item 2).

ES-CNA's witness watches MA-CNA. MA-CNA is either the real node or a hostile one on
its address, with its TLS certificate and its real audit key, serving checkpoints
signed by that key and answering the consistency-proof call as ``mode`` says. The
witness must tell a busy or down peer (no alert until the configured time), a peer
refusing to prove (``refused``) and a forked log apart, never alert an honest log,
and never re-cosign a frozen checkpoint with a fresh time.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from exchange.core.clock import ManualClock
from exchange.core.keys import SigningKeyPair
from exchange.core.note import parse_note, verify_cosignature
from exchange.core.witness import sign_checkpoint, witness_name_for
from exchange.node.app import server_ssl_context
from exchange.ops.keyfiles import load_or_create_audit_key
from exchange.service import witness
from exchange.store import audit, witness_outcomes

from ..federation import ApiClient, Federation, wait_until

T0 = datetime.now(UTC).replace(microsecond=0)


@dataclass
class HostileLog:
    """MA-CNA's audit endpoints, signed with MA-CNA's real audit key."""

    key: SigningKeyPair
    size: int = 5
    root: bytes = field(default_factory=lambda: os.urandom(32))
    mode: str = "honest"  # how the consistency-proof call is answered
    cosignatures: list[str] = field(default_factory=list)

    def note(self) -> str:
        return sign_checkpoint("MA-CNA", self.size, self.root, self.key)

    async def checkpoint(self, request: web.Request) -> web.Response:
        return web.Response(text=self.note(), content_type="text/plain")

    async def consistency(self, request: web.Request) -> web.Response:
        if self.mode == "busy":
            error = {"error": {"code": "rate_limited", "message": "slow down"}}
            return web.json_response(error, status=429, headers={"Retry-After": "1"})
        if self.mode == "failing":
            return web.Response(status=503, text="down for maintenance")
        if self.mode == "refuse":
            error = {"error": {"code": "forbidden", "message": "no proofs for you"}}
            return web.json_response(error, status=403)
        return web.json_response({"from": 1, "to": self.size, "proof": "not a list"})

    async def cosignature(self, request: web.Request) -> web.Response:
        self.cosignatures.append(json.loads(await request.read())["cosignature"])
        return web.json_response({"ok": True})


@pytest.fixture
async def fed(tmp_path: Path) -> AsyncIterator[Federation]:
    fed = Federation.create(tmp_path, ["ES-CNA", "MA-CNA"], clock=ManualClock(T0))
    await fed.start("ES-CNA")
    yield fed
    await fed.stop()


async def _serve(fed: Federation, log: HostileLog) -> web.AppRunner:
    member = fed["MA-CNA"]
    app = web.Application()
    app.router.add_get("/v1/audit/checkpoint", log.checkpoint)
    app.router.add_get("/v1/audit/consistency", log.consistency)
    app.router.add_post("/v1/audit/cosignature", log.cosignature)
    runner = web.AppRunner(app)
    await runner.setup()
    ssl = server_ssl_context(member.config.tls_cert, member.config.tls_key)
    await web.TCPSite(runner, "127.0.0.1", member.port, ssl_context=ssl).start()
    return runner


@pytest.fixture
async def hostile(fed: Federation) -> AsyncIterator[HostileLog]:
    log = HostileLog(load_or_create_audit_key(fed["MA-CNA"].data / "keys"))
    runner = await _serve(fed, log)
    yield log
    await runner.cleanup()


async def _round(fed: Federation) -> str:
    return str((await fed["ES-CNA"].witness_round())["MA-CNA"].verdict)


async def _alerts(fed: Federation) -> list[dict[str, Any]]:
    auditor = await ApiClient(fed["ES-CNA"]).login("auditor")
    try:
        status, body = await auditor.call("GET", "/api/audit/alerts")
        assert status == 200, body
        return list(body["alerts"])
    finally:
        await auditor.close()


def _clock(fed: Federation) -> ManualClock:
    assert isinstance(fed.clock, ManualClock)
    return fed.clock


@pytest.mark.parametrize("mode", ["busy", "failing"])
async def test_a_busy_or_failing_peer_is_no_fork_and_is_alerted_only_after_the_set_time(
    fed: Federation, hostile: HostileLog, mode: str
) -> None:
    assert await _round(fed) == "advance"  # first checkpoint seen
    hostile.size, hostile.mode = 9, mode  # grown, but the proof call answers 429 / 503
    for _ in range(3):
        assert await _round(fed) == "unavailable"
        _clock(fed).advance(timedelta(hours=7))
    assert await _alerts(fed) == []  # 21 hours: not yet
    _clock(fed).advance(timedelta(hours=3))
    assert await _round(fed) == "unavailable"
    alerts = await _alerts(fed)
    assert [a["kind"] for a in alerts] == ["unavailable"]
    assert await _round(fed) == "unavailable"
    assert len(await _alerts(fed)) == 1  # one alert per outage


async def test_a_peer_refusing_the_proof_is_alerted_and_a_later_refusal_is_not_swallowed(
    fed: Federation, hostile: HostileLog
) -> None:
    assert await _round(fed) == "advance"
    hostile.size, hostile.mode = 9, "busy"  # what was a false fork alarm before
    assert await _round(fed) == "unavailable"
    hostile.mode = "refuse"
    assert await _round(fed) == "refused"
    alerts = await _alerts(fed)
    assert [a["kind"] for a in alerts] == ["refused"]
    assert "HTTP 403" in alerts[0]["detail"]
    assert alerts[0]["evidence"]["presented"] == hostile.note()
    assert parse_note(alerts[0]["evidence"]["previous"])  # the view it holds, signed
    hostile.mode = "garbage"  # a 200 without a proof is a refusal too
    assert await _round(fed) == "refused"
    assert len(await _alerts(fed)) == 1  # the same open problem, not repeated


async def test_a_frozen_log_is_not_cosigned_again_with_a_fresh_time(
    fed: Federation, hostile: HostileLog
) -> None:
    assert await _round(fed) == "advance"
    _clock(fed).advance(timedelta(hours=6))
    assert await _round(fed) == "same"
    es_key = load_or_create_audit_key(fed["ES-CNA"].data / "keys").public.public
    text = parse_note(hostile.note()).text
    times = [
        verify_cosignature(text, line, witness_name_for("ES-CNA"), es_key)
        for line in hostile.cosignatures
    ]
    assert times == [int(T0.timestamp())] * 2  # the time it was first verified
    assert await _alerts(fed) == []


async def test_an_honest_log_is_never_alerted(fed: Federation) -> None:
    await fed.start("MA-CNA")
    ma = fed["MA-CNA"]
    verdicts = []
    for i in range(8):
        await ma.checkpoint()
        verdicts.append(await _round(fed))
        _clock(fed).advance(timedelta(hours=1))
        if i % 3 == 0:  # the log grows between some rounds (a login is audited)
            await (await ApiClient(ma).login("investigator")).close()
    assert set(verdicts) <= {"advance", "same"} and "advance" in verdicts
    await fed.stop("MA-CNA")  # down for a few hours: tried again, no alert
    for _ in range(3):
        assert await _round(fed) == "unavailable"
        _clock(fed).advance(timedelta(hours=2))
    await fed.start("MA-CNA")
    await ma.checkpoint()
    assert await _round(fed) in ("advance", "same")
    _clock(fed).advance(timedelta(hours=30))  # the outage ended: nothing to alert
    await ma.checkpoint()
    assert await _round(fed) in ("advance", "same")
    assert await _alerts(fed) == []


async def test_a_refusal_after_the_log_verified_again_is_alerted_anew(fed: Federation) -> None:
    ma = fed["MA-CNA"]
    refusing = HostileLog(load_or_create_audit_key(ma.data / "keys"), mode="refuse")
    for expected in (1, 2):
        await fed.start("MA-CNA")  # the real node: its log verifies
        await (await ApiClient(ma).login("investigator")).close()  # the log grows
        await ma.checkpoint()
        assert await _round(fed) == "advance"
        refusing.size = await ma.node.db.run(audit.size) + 10
        await fed.stop("MA-CNA")
        runner = await _serve(fed, refusing)  # the same log, now refusing to prove
        try:
            assert await _round(fed) == "refused"
            assert await _round(fed) == "refused"
        finally:
            await runner.cleanup()
        assert [a["kind"] for a in await _alerts(fed)] == ["refused"] * expected


REQUEST = {"to": "ES-CNA", "kind": "information_request", "urgency": "urgent",
           "subject": "Vessel", "body": "Who owns the boat?", "language": "en"}  # fmt: skip


@pytest.fixture
async def live(tmp_path: Path) -> AsyncIterator[Federation]:
    fed = Federation.create(tmp_path, ["ES-CNA", "MA-CNA"])
    await fed.start()
    yield fed
    await fed.stop()


async def _ma_sends(fed: Federation) -> int:
    """MA-CNA sends ES-CNA a request; returns the log size its envelope signed."""
    ma = await ApiClient(fed["MA-CNA"]).login("investigator")
    try:
        status, body = await ma.call("POST", "/api/requests", REQUEST)
        assert status == 201, body
    finally:
        await ma.close()
    before = await fed["ES-CNA"].node.db.run(lambda c: witness_outcomes.largest_claim(c, "MA-CNA"))

    async def claimed() -> int:
        got = await fed["ES-CNA"].node.db.run(lambda c: witness_outcomes.largest_claim(c, "MA-CNA"))
        return got.size if got is not None and got != before else 0

    return int(await wait_until(claimed, what="MA's envelope at ES"))


async def test_a_log_serving_an_old_checkpoint_while_its_envelopes_claim_more_is_alerted(
    live: Federation,
) -> None:
    for _ in range(3):  # the honest log: its envelopes never claim more than it shows
        await _ma_sends(live)
        assert await _round(live) in ("advance", "same")
    assert await _alerts(live) == []
    view = await witness.last_view(live["ES-CNA"].node, "MA-CNA")
    assert view is not None
    claimed = await _ma_sends(live)  # signed after the checkpoint ES verified
    assert claimed > view.size
    await live.stop("MA-CNA")
    frozen = HostileLog(
        load_or_create_audit_key(live["MA-CNA"].data / "keys"), size=view.size, root=view.root
    )
    runner = await _serve(live, frozen)  # keeps serving the checkpoint ES already verified
    try:
        assert await _round(live) == "stale"
        alerts = await _alerts(live)
        assert [a["kind"] for a in alerts] == ["stale"]
        assert f"signed a log size of {claimed}" in alerts[0]["detail"]
        assert alerts[0]["evidence"]["presented"] == frozen.note()
        assert f'"log_size":{claimed}' in alerts[0]["evidence"]["claim"]
        assert frozen.cosignatures == []  # never cosigned
        assert await _round(live) == "stale"
        assert len(await _alerts(live)) == 1
    finally:
        await runner.cleanup()


async def test_a_log_serving_an_old_checkpoint_while_its_receipts_claim_more_is_alerted(
    live: Federation,
) -> None:
    assert await _round(live) in ("advance", "same")
    view = await witness.last_view(live["ES-CNA"].node, "MA-CNA")
    assert view is not None
    await (await ApiClient(live["MA-CNA"]).login("liaison")).close()  # MA's log grows
    es = await ApiClient(live["ES-CNA"]).login("investigator")
    try:
        status, body = await es.call("POST", "/api/requests", REQUEST | {"to": "MA-CNA"})
        assert status == 201, body
    finally:
        await es.close()

    async def receipted() -> int:  # MA's receipt (v3) signed its log size
        got = await live["ES-CNA"].node.db.run(
            lambda c: witness_outcomes.largest_claim(c, "MA-CNA")
        )
        return got.size if got is not None else 0

    claimed = int(await wait_until(receipted, what="MA's receipt at ES"))
    assert claimed > view.size
    await live.stop("MA-CNA")
    frozen = HostileLog(
        load_or_create_audit_key(live["MA-CNA"].data / "keys"), size=view.size, root=view.root
    )
    runner = await _serve(live, frozen)
    try:
        assert await _round(live) == "stale"
        (alert,) = await _alerts(live)
        assert '"receipt"' in alert["evidence"]["claim"]  # the signed receipt itself
        assert frozen.cosignatures == []
    finally:
        await runner.cleanup()
