"""Our log asks its peers' witnesses for cosignatures, by c2sp.org/tlog-witness.

Every ``[audit] witness_interval_seconds``, the newest checkpoint of our log goes to
``POST <peer node_url>/add-checkpoint`` of each peer (TLS pinned to the directory's
fingerprint; the call itself is unauthenticated, as the specification says) with a
consistency proof from the size that witness last cosigned. A 409 names that size
(``text/x.tlog.size``): the submission is made again from there, once. The cosignature
lines that come back are verified under the peer's witness key from the directory and
kept like those of ``POST /v1/audit/cosignature`` (``service.audit.accept_cosignature``).

A witness holding a larger size than our log has is not argued with: it is logged at
error level (``witness_ahead``), since it means our log lost entries it had signed.
"""

from __future__ import annotations

import asyncio

import aiohttp
import structlog

from ..core.bodies import read_limited
from ..core.directory import Authority
from ..core.errors import ExchangeError
from ..core.note import parse_signature
from ..core.tlog_witness import CONTENT_TYPE_SIZE, format_submission, parse_size
from ..core.witness import witness_key, witness_name_for
from ..core.witness_rounds import peers_this_round
from ..service import audit
from ..service.node import Node
from .peer_client import pinned

log = structlog.get_logger("exchange.witness")
ADD_CHECKPOINT_PATH = "/add-checkpoint"
MAX_ANSWER_BYTES = 64 * 1024


class WitnessSubmitter:
    def __init__(self, node: Node, session: aiohttp.ClientSession) -> None:
        self.node = node
        self.session = session
        self._held: dict[str, int] = {}  # the size each witness said it holds
        self._locks: dict[str, asyncio.Lock] = {}
        self._round = 0

    async def submit_all(self) -> dict[str, int]:
        """Submit the newest checkpoint to every peer's witness, or to this round's
        window of ``[audit] witness_peers_per_round`` of them; the size each cosigned."""
        directory = self.node.directory.require()
        witnesses = {
            a.authority_id: a
            for a in directory.authorities
            if a.authority_id != self.node.me and witness_key(a) is not None
        }
        per_round = self.node.config.audit.witness_peers_per_round
        chosen = peers_this_round(witnesses, self.node.me, self._round, per_round)
        self._round += 1
        peers = [witnesses[p] for p in chosen]
        results = await asyncio.gather(*(self.submit(p) for p in peers), return_exceptions=True)
        cosigned: dict[str, int] = {}
        for peer, result in zip(peers, results, strict=True):
            if isinstance(result, int):
                cosigned[peer.authority_id] = result
            else:
                log.info(
                    "witness_submission_failed",
                    peer=peer.authority_id,
                    error=getattr(result, "code", type(result).__name__),
                )
        return cosigned

    async def submit(self, peer: Authority) -> int:
        """One submission to ``peer`` (serialised per peer); the size it cosigned."""
        async with self._locks.setdefault(peer.authority_id, asyncio.Lock()):
            stored = await audit.sign_now(self.node)
            old = self._held.get(peer.authority_id, 0)
            for _ in range(2):
                if old > stored.size:
                    log.error("witness_ahead", peer=peer.authority_id, held=old, size=stored.size)
                    raise ExchangeError("the witness holds a larger log", code="witness_ahead")
                proof = await audit.consistency(self.node, old, stored.size) if old else []
                status, answer = await self._post(peer, format_submission(old, proof, stored.note))
                if status == 409:
                    old = self._held[peer.authority_id] = parse_size(answer)
                    continue
                if status != 200:
                    raise ExchangeError(f"witness answered HTTP {status}", code="witness_refused")
                await self._keep(peer, stored.size, answer)
                self._held[peer.authority_id] = stored.size
                return stored.size
            raise ExchangeError("the witness's size kept changing", code="witness_refused")

    async def _post(self, peer: Authority, body: bytes) -> tuple[int, bytes]:
        limit = self.node.config.delivery.request_timeout.total_seconds()
        async with self.session.post(
            peer.node_url.rstrip("/") + ADD_CHECKPOINT_PATH,
            data=body,
            headers={"Content-Type": "text/plain"},
            ssl=pinned(*peer.tls_pins),
            timeout=aiohttp.ClientTimeout(total=limit),
        ) as response:
            answer = await read_limited(response.content, MAX_ANSWER_BYTES, "witness answer")
            if response.status == 409 and response.content_type != CONTENT_TYPE_SIZE:
                return 400, answer
            return response.status, answer

    async def _keep(self, peer: Authority, size: int, answer: bytes) -> None:
        """Keep the lines by this peer's witness key (others are ignored, as the spec says)."""
        name = witness_name_for(peer.authority_id)
        for line in answer.decode("utf-8", "replace").splitlines(keepends=True):
            try:
                if parse_signature(line).name != name:
                    continue
            except ExchangeError:
                continue
            await audit.accept_cosignature(
                self.node, caller=peer.authority_id, size=size, line=line
            )

    async def run(self) -> None:
        interval = self.node.config.audit.witness_interval.total_seconds()
        while True:
            await asyncio.sleep(interval)
            try:
                await self.submit_all()
            except Exception:
                log.exception("witness_submission_round_failed")
