"""The witness: check every peer's audit log grows append-only, and cosign it.

For each peer with an ``audit_vkey`` in the directory: fetch its latest
checkpoint, verify the signature, fetch a consistency proof from the last
size this node verified, let ``exchange.core.witness.judge`` decide, then
record the new view and send back a cosignature, or conclude what went wrong.
The worker only gathers facts; ``core.witness`` decides: a peer that cannot be
reached (no answer, 429, 5xx) is *unavailable*, tried again next round and alerted
only after ``[audit] witness_unavailable_alert_after_hours``; one that answers
without a proof *refused*; a proof that fails, two roots at one size or a smaller
log are a fork or a shrunk log, alerted with both signed notes as evidence (stored,
logged, and entered in our own audit log). ``core.witness.respond`` keeps one open
alert per peer and kind until a round verifies the log again.
"""

from __future__ import annotations

import asyncio
import json
from typing import Literal

import aiohttp
import structlog

from ..core.canonical import b64d, canonical_json
from ..core.directory import Authority
from ..core.errors import ExchangeError, OldSizeMismatch, TooLarge
from ..core.note import Checkpoint, parse_note
from ..core.witness import (
    Judgement,
    Seen,
    failed_call,
    judge,
    open_checkpoint,
    stale,
)
from ..core.witness_rounds import peers_this_round
from ..service import witness
from ..service.node import Node
from .peer_client import PeerAnswered, call_peer

log = structlog.get_logger("exchange.witness")
CHECKPOINT_PATH = "/v1/audit/checkpoint"
CONSISTENCY_PATH = "/v1/audit/consistency"
COSIGNATURE_PATH = "/v1/audit/cosignature"
ALERTS_PATH = "/v1/witness/alerts"


class _NoUsableAnswer(Exception):
    """A call to the watched node gave nothing to judge: ``outcome`` says whether the
    peer was unavailable or refused (``core.witness.failed_call``)."""

    def __init__(self, outcome: Literal["unavailable", "refused"], why: str) -> None:
        super().__init__(why)
        self.outcome = outcome
        self.why = why

    def judgement(self, call: str) -> Judgement:
        return Judgement(self.outcome, f"{call}: {self.why}")


class Witness:
    def __init__(self, node: Node, session: aiohttp.ClientSession) -> None:
        self.node = node
        self.session = session
        self._locks: dict[str, asyncio.Lock] = {}
        self._round = 0

    async def observe_all(self) -> dict[str, Judgement]:
        """One round: the peers whose logs it watches, all of them or this round's
        window of ``[audit] witness_peers_per_round`` (``core.witness_rounds``)."""
        directory = self.node.directory.require()
        watched = {
            a.authority_id: a
            for a in directory.authorities
            if a.authority_id != self.node.me and a.audit_vkey
        }
        per_round = self.node.config.audit.witness_peers_per_round
        chosen = peers_this_round(watched, self.node.me, self._round, per_round)
        self._round += 1
        peers = [watched[p] for p in chosen]
        results = await asyncio.gather(*(self.observe(p) for p in peers), return_exceptions=True)
        verdicts: dict[str, Judgement] = {}
        for peer, result in zip(peers, results, strict=True):
            if isinstance(result, Judgement):
                verdicts[peer.authority_id] = result
            else:
                log.info(
                    "witness_peer_unavailable", peer=peer.authority_id, error=type(result).__name__
                )
        await self.send_alerts()
        return verdicts

    async def send_alerts(self) -> None:
        """Send the signed alerts not yet accepted to each peer (``POST
        /v1/witness/alerts``): one refused for good (any 4xx but 429) is not sent again;
        one that found the peer unavailable is tried again next round."""
        for sent in await witness.pending_statements(self.node):
            peer = self.node.directory.require().get(sent.peer)
            if peer is None:
                await witness.statement_done(self.node, sent, "not_in_directory")
                continue
            try:
                await call_peer(
                    self.node, self.session, peer, "POST", ALERTS_PATH, body=sent.statement
                )
            except PeerAnswered as exc:
                if failed_call(exc.status) == "refused":
                    log.warning("witness_alert_refused", peer=sent.peer, code=exc.code)
                    await witness.statement_done(self.node, sent, exc.code)
                continue
            except (aiohttp.ClientError, TimeoutError, OSError, ExchangeError) as exc:
                log.info("witness_alert_not_sent", peer=sent.peer, error=type(exc).__name__)
                continue
            await witness.statement_done(self.node, sent, "ok")

    async def observe(self, peer: Authority) -> Judgement:
        """One witnessing round for ``peer`` (serialised per peer)."""
        async with self._locks.setdefault(peer.authority_id, asyncio.Lock()):
            return await self._observe(peer)

    async def _observe(self, peer: Authority) -> Judgement:
        assert peer.audit_vkey is not None
        peer_id = peer.authority_id
        # read before the checkpoint is asked for: the log's own submissions (POST
        # /add-checkpoint) may move the view on meanwhile, and a view read after the
        # answer could be newer than it (a false "shrunk" under a slow link)
        previous = await witness.last_view(self.node, peer_id)
        old_note = previous.note if previous else ""
        # read before the checkpoint is asked for: every claim here was signed before it
        claim = await witness.largest_claim(self.node, peer_id)
        try:
            note_text = await self._ask(peer, CHECKPOINT_PATH)
        except _NoUsableAnswer as failure:
            return await self._conclude(peer_id, failure.judgement("checkpoint"), old_note, "")
        try:
            note = parse_note(note_text)
            checkpoint = open_checkpoint(note, peer.authority_id, peer.audit_vkey)
        except (ValueError, ExchangeError):
            refused = Judgement("refused", "its checkpoint does not verify under its audit_vkey")
            return await self._conclude(peer_id, refused, old_note, note_text)
        proof = None
        if previous is not None and checkpoint.size > previous.size:
            try:
                proof = await self._proof(peer, previous.size, checkpoint.size)
            except _NoUsableAnswer as failure:
                judgement = failure.judgement("consistency proof")
                return await self._conclude(peer_id, judgement, old_note, note_text)
        seen = Seen(previous.size, previous.root) if previous else None
        judgement = judge(seen, checkpoint, proof)
        behind = stale(checkpoint, claim.size if claim else None)
        if behind is not None and claim is not None and judgement.verdict in ("advance", "same"):
            # neither remembered nor cosigned: the log signed more than it shows
            return await self._conclude(peer_id, behind, old_note, note_text, claim=claim.claim)
        line = None
        if judgement.verdict in ("advance", "same"):
            # the same check-and-persist path as add-checkpoint: a compare-and-swap on
            # the view judged against, with the cosignature given (an unchanged
            # checkpoint keeps the cosignature, and the time, it was first given)
            try:
                line = await witness.advance(self.node, previous, checkpoint, note_text)
            except OldSizeMismatch:
                # the log's own submission (POST /add-checkpoint) moved the view on
                # while this round was asking: judged against an older view, the round
                # has nothing to add (and nothing to alert: that path checked it)
                log.info("witness_view_moved_on", peer=peer_id)
                return Judgement("same", "the view moved on during the round")
        await self._conclude(peer_id, judgement, old_note, note_text)
        if line is not None:
            await self._cosign(peer, checkpoint, line)
        return judgement

    async def _ask(self, peer: Authority, path: str) -> str:
        """One GET to the watched node; ``_NoUsableAnswer`` says why nothing came."""
        try:
            return (await call_peer(self.node, self.session, peer, "GET", path)).decode()
        except PeerAnswered as exc:
            raise _NoUsableAnswer(
                failed_call(exc.status), f"HTTP {exc.status} {exc.code}"
            ) from None
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise _NoUsableAnswer("unavailable", type(exc).__name__) from None
        except (UnicodeDecodeError, TooLarge) as exc:
            raise _NoUsableAnswer("refused", type(exc).__name__) from None

    async def _proof(self, peer: Authority, old: int, new: int) -> list[bytes]:
        answer = await self._ask(peer, f"{CONSISTENCY_PATH}?from={old}&to={new}")
        try:
            return [b64d(h, field="proof", length=32) for h in json.loads(answer)["proof"]]
        except (ValueError, KeyError, TypeError, ExchangeError) as exc:
            raise _NoUsableAnswer("refused", f"malformed proof ({type(exc).__name__})") from None

    async def _cosign(self, peer: Authority, checkpoint: Checkpoint, line: str) -> None:
        body = canonical_json({"size": checkpoint.size, "cosignature": line})
        await call_peer(self.node, self.session, peer, "POST", COSIGNATURE_PATH, body=body)

    async def _conclude(
        self, peer: str, judgement: Judgement, old_note: str, new_note: str, *, claim: str = ""
    ) -> Judgement:
        evidence = {"previous": old_note, "presented": new_note}
        if claim:
            evidence["claim"] = claim  # the signed header that claimed a larger log
        if await witness.conclude(
            self.node, peer, judgement.verdict, detail=judgement.detail, evidence=evidence
        ):
            log.error("witness_alert", peer=peer, alert=judgement.verdict, detail=judgement.detail)
        elif judgement.verdict == "unavailable":
            log.info("witness_peer_unavailable", peer=peer, detail=judgement.detail)
        return judgement

    async def run(self) -> None:
        interval = self.node.config.audit.witness_interval.total_seconds()
        while True:
            # first wait: peers starting together have something to show, and a
            # federation restarting at once is not flooded with witness calls
            await asyncio.sleep(interval)
            try:
                await self.observe_all()
            except Exception:
                log.exception("witness_round_failed")
