"""The witness: check every peer's audit log grows append-only, and cosign it.

For each peer with an ``audit_vkey`` in the directory: fetch its latest
checkpoint, verify the signature, fetch a consistency proof from the last
size this node verified, let ``exchange.core.witness.judge`` decide, then
either record the new view and send back a cosignature, or raise an alert
(stored with both notes as evidence, logged, and entered in our own audit
log). A peer that is down is simply tried again next round.
"""

from __future__ import annotations

import asyncio
import json

import aiohttp
import structlog

from ..core.canonical import b64d, canonical_json
from ..core.directory import Authority
from ..core.errors import ExchangeError
from ..core.note import Checkpoint, parse_note
from ..core.witness import Judgement, Seen, judge, open_checkpoint
from ..service import witness
from ..service.node import Node
from .peer_client import call_peer

log = structlog.get_logger("exchange.witness")
CHECKPOINT_PATH = "/v1/audit/checkpoint"
CONSISTENCY_PATH = "/v1/audit/consistency"
COSIGNATURE_PATH = "/v1/audit/cosignature"


class Witness:
    def __init__(self, node: Node, session: aiohttp.ClientSession) -> None:
        self.node = node
        self.session = session
        self._locks: dict[str, asyncio.Lock] = {}

    async def observe_all(self) -> dict[str, Judgement]:
        directory = self.node.directory.require()
        peers = [
            a for a in directory.authorities if a.authority_id != self.node.me and a.audit_vkey
        ]
        results = await asyncio.gather(*(self.observe(p) for p in peers), return_exceptions=True)
        verdicts: dict[str, Judgement] = {}
        for peer, result in zip(peers, results, strict=True):
            if isinstance(result, Judgement):
                verdicts[peer.authority_id] = result
            else:
                log.info(
                    "witness_peer_unavailable", peer=peer.authority_id, error=type(result).__name__
                )
        return verdicts

    async def observe(self, peer: Authority) -> Judgement:
        """One witnessing round for ``peer`` (serialised per peer)."""
        async with self._locks.setdefault(peer.authority_id, asyncio.Lock()):
            return await self._observe(peer)

    async def _observe(self, peer: Authority) -> Judgement:
        assert peer.audit_vkey is not None
        note_text = (
            await call_peer(self.node, self.session, peer, "GET", CHECKPOINT_PATH)
        ).decode()
        note = parse_note(note_text)
        try:
            checkpoint = open_checkpoint(note, peer.authority_id, peer.audit_vkey)
        except ValueError as exc:
            raise ExchangeError(str(exc), code="bad_signature") from None
        peer_id = peer.authority_id
        previous = await witness.last_view(self.node, peer_id)
        proof = None
        if previous is not None and checkpoint.size > previous.size:
            proof = await self._proof(peer, previous.size, checkpoint.size)
        seen = Seen(previous.size, previous.root) if previous else None
        judgement = judge(seen, checkpoint, proof)
        if judgement.verdict in ("fork", "shrunk"):
            await self._alert(peer_id, judgement, previous.note if previous else "", note_text)
            return judgement
        # the same check-and-persist path as add-checkpoint: a compare-and-swap on the
        # view judged against, with the cosignature given
        line = await witness.advance(self.node, previous, checkpoint, note_text)
        await self._cosign(peer, checkpoint, line)
        return judgement

    async def _proof(self, peer: Authority, old: int, new: int) -> list[bytes] | None:
        path = f"{CONSISTENCY_PATH}?from={old}&to={new}"
        try:
            answer = json.loads(await call_peer(self.node, self.session, peer, "GET", path))
            return [b64d(h, field="proof", length=32) for h in answer["proof"]]
        except (ValueError, KeyError, TypeError, ExchangeError) as exc:
            log.warning("witness_no_proof", peer=peer.authority_id, error=type(exc).__name__)
            return None

    async def _cosign(self, peer: Authority, checkpoint: Checkpoint, line: str) -> None:
        body = canonical_json({"size": checkpoint.size, "cosignature": line})
        await call_peer(self.node, self.session, peer, "POST", COSIGNATURE_PATH, body=body)

    async def _alert(self, peer: str, judgement: Judgement, old_note: str, new_note: str) -> None:
        if await witness.raise_alert(
            self.node, peer, judgement, previous=old_note, presented=new_note
        ):
            log.error("witness_alert", peer=peer, alert=judgement.verdict, detail=judgement.detail)

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
