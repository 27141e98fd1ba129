"""The delivery worker: one queue per peer, batches, exponential backoff with jitter.

Everything it needs to resume lives in the outbox table, so a crash loses
nothing: on restart, pending envelopes are sent again and the peer answers
a duplicate with the receipt it issued the first time (exactly-once effect).
One dead peer never slows the others: each peer drains in its own task.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import aiohttp
import structlog

from ..core.backoff import RETRYABLE_CODES, retry_delay
from ..core.canonical import b64_json, loads_canonical
from ..core.envelope import parse_header
from ..core.errors import ExchangeError, UnsupportedVersion
from ..core.lease import delivery_share
from ..core.receipt import check_signed_time, parse_receipt, verify_receipt
from ..core.refusal import parse_refusal, verify_refusal
from ..runloop import wait_event
from ..service import evidence, outbox
from ..service.metrics import Metrics
from ..service.node import Node
from .blobs import upload_blobs
from .leases import Grant, LeaseKeeper
from .peer_client import call_peer

log = structlog.get_logger("exchange.delivery")
TRANSACTIONS_PATH = "/v1/transactions"
IDLE_WAIT = 30.0
# Keep each transaction well under the receiver's 16 MiB body limit.
BATCH_BYTES = 8 * 1024 * 1024


@dataclass
class OutboxAsks:
    """The worker's asks of the outbox since it started (each a database job), for
    tests and benchmarks: every peer's queue at once (``next_due``), one peer's."""

    every_peer: int = 0
    peer: Counter[str] = field(default_factory=Counter)


class DeliveryWorker:
    def __init__(
        self,
        node: Node,
        session: aiohttp.ClientSession,
        metrics: Metrics | None = None,
        rng: random.Random | None = None,
        keeper: LeaseKeeper | None = None,
    ) -> None:
        """With a shared ``keeper`` (``[cluster] active_active``) a peer's queue drains
        only in the process holding the ``delivery:<peer>`` lease, and an idle worker
        looks at the outbox every ``[cluster] poll_seconds``: work queued by another
        process is delivered promptly by whichever holds the peer."""
        self.node = node
        self.keeper = keeper if keeper is not None and keeper.shared else None
        self.idle_wait = node.config.cluster.poll.total_seconds() if self.keeper else IDLE_WAIT
        self.metrics = metrics
        self.session = session
        self.rng = rng or random.Random()  # noqa: S311 (jitter only)
        self.asks = OutboxAsks()
        self._wake = asyncio.Event()
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._failures: dict[str, int] = {}
        self._handing_over: set[str] = set()  # peers beyond this process's share
        # Wake-ups so far, each saying something was queued: for any peer, and for one.
        # Their sum for a peer changes whenever its queue may have grown.
        self._queued_any = 0
        self._queued: dict[str, int] = {}
        # A peer whose whole due queue a drain took, the peer's wake-ups by then, and
        # when its next envelope not yet due falls due: nothing new is due for it until
        # that time or another wake-up (one process alone on its outbox).
        self._taken: dict[str, int] = {}
        self._later: dict[str, datetime | None] = {}
        # Every peer's queue is asked about (next_due) at start (what a restart left),
        # after a wake-up naming no peer, a drain that did not take its peer's whole
        # queue, at a peer's next due time and every idle_wait; else a wake-up naming a
        # peer starts that peer's drain alone.
        self._ask_all = True
        self._named: set[str] = set()
        self._timers: dict[str, float] = {}  # a waiting peer's due time, in loop time
        self._idle_at = 0.0

    def wake(self, peer: str | None = None) -> None:
        """Something was queued: for ``peer``, or (None) for any peer."""
        if peer is None:
            self._queued_any += 1
            self._ask_all = True
        else:
            self._queued[peer] = self._queued.get(peer, 0) + 1
            self._named.add(peer)
        self._wake.set()

    def _wake_ups(self, peer: str) -> int:
        return self._queued_any + self._queued.get(peer, 0)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                self._wake.clear()
                try:
                    await self._turn(loop.time())
                    timeout = self._next_look() - loop.time()
                except Exception:
                    # e.g. the disk is full for a moment: keep the worker alive, look again
                    log.exception("delivery_scan_failed")
                    self._ask_all = True
                    timeout = self.node.config.delivery.backoff_initial.total_seconds()
                await wait_event(self._wake, max(timeout, 0.001))
        finally:
            for task in self._tasks.values():
                task.cancel()
            await asyncio.gather(*self._tasks.values(), return_exceptions=True)

    async def _turn(self, now: float) -> None:
        """Ask about every peer's queue when due (always with other processes on the
        outbox: they queue without waking us); else start the named peers' drains."""
        if self._ask_all or self.keeper is not None or now >= self._next_look():
            self._ask_all = False
            self._named.clear()  # the ask finds what they queued
            await self._start_due_peers()
            return
        named, self._named = self._named, set()
        for peer in named:
            if peer not in self._tasks:
                self._start(peer, None)

    def _next_look(self) -> float:
        """When every queue is asked about next (loop time), if no wake-up comes first."""
        return min([self._idle_at, *self._timers.values()])

    async def _start_due_peers(self) -> None:
        self.asks.every_peer += 1
        due = await outbox.next_due(self.node)
        now = self.node.clock.now()
        at = asyncio.get_running_loop().time()
        self._idle_at = at + self.idle_wait
        self._timers = {}
        ready: list[str] = []
        for peer, due_at in due.items():
            if peer in self._tasks:
                continue  # its drain says when it ends
            if due_at > now:
                self._timers[peer] = at + (due_at - now).total_seconds()
                continue
            ready.append(peer)
        if self.keeper is None:
            for peer in ready:
                self._start(peer, None)
        else:
            await self._take_share(self.keeper, list(due), ready)

    async def _take_share(self, keeper: LeaseKeeper, due: list[str], ready: list[str]) -> None:
        """Take the ``delivery:<peer>`` leases of this process's fair share of the peers
        (``core.lease.delivery_share``), and hand over those beyond it: with several
        live processes the peers' deliveries spread over them."""
        share = delivery_share(due, list(self._tasks), keeper.members(), keeper.holder)
        self._handing_over = set(share.hand_over)
        room = share.room
        for peer in share.take:
            if room <= 0:
                break
            if peer not in ready:
                continue
            grant = await keeper.acquire(f"delivery:{peer}")
            if grant is None:  # another process delivers to this peer now
                continue
            room -= 1
            self._start(peer, grant)

    def _start(self, peer: str, grant: Grant | None) -> None:
        self._tasks[peer] = asyncio.create_task(
            self._deliver_to(peer, grant), name=f"deliver-{peer}"
        )

    async def _deliver_to(self, peer: str, grant: Grant | None) -> None:
        """Drain the peer's queue; under its lease, stopped at once if the lease goes."""
        taken_all = False

        async def drain(_: Grant) -> None:
            await self._drain(peer)

        try:
            if grant is None or self.keeper is None:
                taken_all = await self._drain(peer)
            else:
                await self.keeper.run_under(grant, drain)
        finally:
            self._tasks.pop(peer, None)
            self._ended(peer, taken_all)
            self._wake.set()

    def _ended(self, peer: str, taken_all: bool) -> None:
        """A drain ended. If it took the peer's whole due queue and nothing failed, the
        peer waits for its next envelope not yet due, or a wake-up naming it; else (a
        retry's time set, a drain stopped) every queue is asked about again."""
        taken = self._taken.pop(peer, None)
        later = self._later.pop(peer, None)
        if not taken_all or taken is None:
            self._ask_all = True
        elif taken != self._wake_ups(peer):
            self._named.add(peer)  # queued for it since its last ask
        elif later is None:
            self._timers.pop(peer, None)
        else:
            wait = (later - self.node.clock.now()).total_seconds()
            self._timers[peer] = asyncio.get_running_loop().time() + wait

    async def _drain(self, peer: str) -> bool:
        """Send the peer's due envelopes, up to ``pipeline`` transactions in flight;
        True if it ended with all of them taken and delivered (or given up).

        An envelope is in at most one transaction at a time; the first failure stops
        new sends to the peer until its retry time (the others finish first).
        """
        slots = self.node.config.delivery.pipeline
        inflight: set[str] = set()
        running: set[asyncio.Task[bool]] = set()
        failed = False
        try:
            while not failed and peer not in self._handing_over:
                if len(running) >= slots or not await self._dispatch(peer, inflight, running):
                    if not running:
                        return True
                    done, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                    running.difference_update(done)
                    failed = not all(task.result() for task in done)
        except asyncio.CancelledError:
            for task in running:
                task.cancel()  # the envelopes stay pending: sent again after a restart
            raise
        except Exception:
            log.exception("delivery_worker_error", peer=peer)
        finally:
            if running:
                await asyncio.gather(*running, return_exceptions=True)
        return False

    async def _dispatch(
        self, peer: str, inflight: set[str], running: set[asyncio.Task[bool]]
    ) -> bool:
        """Start one transaction of due envelopes not already in flight; False if none."""
        if self._taken.get(peer) == self._wake_ups(peer):
            return False  # asking again would find what is in flight (2 of 3 asks)
        now = self.node.clock.now()
        size = self.node.config.delivery.batch_size
        limit = size + len(inflight)
        queued = self._wake_ups(peer)
        self.asks.peer[peer] += 1
        due = await outbox.due(self.node, peer, now, limit)
        fresh = [item for item in due.items if item.msg_id not in inflight]
        # another process may queue without waking us (active-active): ask each time
        if len(due.items) < limit and len(fresh) <= size and self.keeper is None:
            self._taken[peer] = queued
            self._later[peer] = due.later
        batch = fresh[:size]
        if not batch:
            return False
        ids = {item.msg_id for item in batch}
        inflight.update(ids)

        async def send() -> bool:
            try:
                return await self._deliver(peer, batch, now)
            except Exception:
                log.exception("delivery_worker_error", peer=peer)
                return False
            finally:
                inflight.difference_update(ids)

        task = asyncio.create_task(send())
        running.add(task)
        return True

    def _due_again(self, peer: str) -> None:
        """More of the peer's envelopes are due than its drain took: it asks again."""
        self._queued[peer] = self._queued.get(peer, 0) + 1

    async def _deliver(self, peer: str, batch: list[outbox.Pending], now: datetime) -> bool:
        live: list[outbox.Pending] = []
        total = 0
        for item in batch:
            if item.expires_at <= now:
                await self._give_up(item.msg_id, "expired", now)
                continue
            total += len(item.envelope) * 4 // 3 + 8
            if live and total > BATCH_BYTES:
                self._due_again(peer)
                break  # the rest goes in the next call
            live.append(item)
        if not live:
            return True
        try:
            if any(i.blobs for i in live):  # else no job to learn there is nothing to send
                await upload_blobs(self.node, self.session, peer, [i.msg_id for i in live])
            results = await self._post(peer, live, now)
        except ExchangeError as exc:
            await self._retry(peer, [i.msg_id for i in live], exc.code, now)
            return False
        except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as exc:
            await self._retry(peer, [i.msg_id for i in live], type(exc).__name__, now)
            return False
        if self._failures.pop(peer, None):
            # The peer answers again: what waits for it is due now, not at the retry
            # times its outage set (up to backoff_max away).
            await outbox.due_now(self.node, peer, now)
            self._due_again(peer)  # what was waiting is due again
        verified: list[tuple[outbox.Pending, bytes]] = []
        refused: list[outbox.PeerRefusal] = []
        retry: list[str] = []
        give_up: list[tuple[str, str]] = []
        roots: set[tuple[str, bytes, int, bytes]] = set()  # a batch signature checked once
        sizes: list[tuple[int, bytes]] = []  # the log sizes the peer signed (receipt v3)
        missing: list[str] = []
        for item, result in zip(live, results, strict=True):
            outcome = self._check(peer, item, result, roots, sizes)
            if isinstance(outcome, bytes):
                verified.append((item, outcome))
                continue
            code, refusal = outcome
            if refusal is not None:
                refused.append(refusal)
            if code == "not_found":  # a blob is not there (collected since we sent it)
                missing.append(item.msg_id)
            if code in RETRYABLE_CODES:
                retry.append(item.msg_id)
            else:
                give_up.append((item.msg_id, code))
        if verified:
            largest = max(sizes) if sizes else None
            claim = (largest[0], largest[1].decode()) if largest is not None else None
            await self._store_receipts(peer, verified, now, claim)
        if missing:
            await evidence.upload_again(self.node, missing)
        if refused:
            await outbox.store_refusals(self.node, refused, now)
            log.info("delivery_refused", peer=peer, count=len(refused))
        for msg_id, code in give_up:
            await self._give_up(msg_id, code, now)
        if retry:
            await self._retry(peer, retry, "peer_asked_retry", now)
            return False
        return True

    async def _post(self, peer: str, batch: list[outbox.Pending], now: datetime) -> list[object]:
        authority = self.node.directory.require().get(peer)
        if authority is None:
            raise ExchangeError("peer left the directory", code="unknown_sender")
        # {"envelopes": [base64, ...]} spliced: base64 needs no escaping, and a JSON
        # encoder would scan the ~0.5 MB of a full transaction character by character.
        body = b'{"envelopes":[' + b",".join(b64_json(i.envelope) for i in batch) + b"]}"
        answer = await call_peer(
            self.node, self.session, authority, "POST", TRANSACTIONS_PATH, body=body
        )
        # canonical bytes only, as the peer accepts from us: a receipt has one spelling
        payload = loads_canonical(answer, max_depth=8, what="transaction answer")
        results = payload.get("results") if isinstance(payload, dict) else None
        if not isinstance(results, list) or len(results) != len(batch):
            raise ValueError("peer answered with a malformed transaction result")
        return results

    def _check(
        self,
        peer: str,
        item: outbox.Pending,
        result: object,
        roots: set[tuple[str, bytes, int, bytes]],
        sizes: list[tuple[int, bytes]],
    ) -> bytes | tuple[str, outbox.PeerRefusal | None]:
        """The verified receipt's bytes; or the error code, with the peer's verified
        signed refusal when it sent one."""
        if not isinstance(result, dict):
            return "malformed", None
        if "error" in result:
            error = result["error"]
            code = str(error.get("code", "malformed")) if isinstance(error, dict) else "malformed"
            if "refusal" not in result:
                return code, None  # bytes the peer could not attribute to us, or an old peer
            return self._check_refusal(peer, item, code, result["refusal"])
        try:
            if item.evidence_sha256 is None:
                # sealed before receipts named content: no receipt can prove it (fail closed)
                raise ExchangeError("no evidence hash for this envelope", code="malformed")
            receipt = parse_receipt(result.get("receipt", {}))
            verify_receipt(
                receipt,
                directory=self.node.directory.require(),
                expected_msg_id=item.msg_id,
                expected_sender=self.node.me,
                expected_recipient=peer,
                expected_envelope_sha256=item.envelope_sha256,
                expected_evidence_sha256=item.evidence_sha256,
                verified_roots=roots,
            )
            check_signed_time(
                receipt.received_at, sent_at=_sealed_at(item), now=self.node.clock.now(),
                what="received_at",
            )  # fmt: skip
            if receipt.log_size is None:
                raise UnsupportedVersion("a v2 receipt signs no log size: the peer must upgrade")
        except ExchangeError as exc:
            log.warning("receipt_rejected", peer=peer, msg_id=item.msg_id, code=exc.code)
            return "unknown_sender", None  # retry: the peer may have rotated keys
        data = receipt.to_bytes()
        sizes.append((receipt.log_size, data))
        return data

    def _check_refusal(
        self, peer: str, item: outbox.Pending, code: str, data: object
    ) -> tuple[str, outbox.PeerRefusal | None]:
        """A refusal that does not verify is no evidence: retried as a bad receipt is."""
        try:
            if not isinstance(data, dict):
                raise ExchangeError("refusal must be an object", code="malformed")
            refusal = parse_refusal(data)
            verify_refusal(
                refusal,
                directory=self.node.directory.require(),
                expected_code=code,
                expected_msg_id=item.msg_id,
                expected_sender=self.node.me,
                expected_recipient=peer,
                expected_envelope_sha256=item.envelope_sha256,
            )
            check_signed_time(
                refusal.refused_at, sent_at=_sealed_at(item), now=self.node.clock.now(),
                what="refused_at",
            )  # fmt: skip
        except ExchangeError as exc:
            log.warning("refusal_rejected", peer=peer, msg_id=item.msg_id, code=exc.code)
            return "unknown_sender", None
        raw = refusal.to_bytes()
        return code, outbox.PeerRefusal(item.msg_id, peer, code, refusal.refused_at, raw)

    async def _store_receipts(
        self,
        peer: str,
        verified: list[tuple[outbox.Pending, bytes]],
        now: datetime,
        claim: tuple[int, str] | None = None,
    ) -> None:
        """A transaction's receipts in one database job (all or none: on failure the
        envelopes stay pending, and the peer answers the retry with the same receipts),
        with the largest log size the peer signed in them."""
        receipts = [(item.msg_id, raw) for item, raw in verified]
        await outbox.store_receipts(self.node, receipts, now, peer=peer, claim=claim)
        log.info(
            "delivered", peer=peer, count=len(verified), msg_ids=[i.msg_id for i, _ in verified]
        )
        if self.metrics is not None:
            self.metrics.deliveries.labels(peer=peer).inc(len(verified))

    async def _retry(self, peer: str, msg_ids: list[str], error: str, now: datetime) -> None:
        failures = self._failures.get(peer, 0)
        self._failures[peer] = failures + 1
        cfg = self.node.config.delivery
        delay = retry_delay(
            failures, initial=cfg.backoff_initial, maximum=cfg.backoff_max, rng=self.rng
        )
        at = now + delay
        await outbox.retry_later(self.node, peer, msg_ids, error=error, at=at, now=now)
        log.info(
            "delivery_retry_scheduled",
            peer=peer,
            count=len(msg_ids),
            error=error,
            delay_s=round(delay / timedelta(seconds=1), 3),
        )

    async def _give_up(self, msg_id: str, error: str, now: datetime) -> None:
        await outbox.expire(self.node, msg_id, error=error, now=now)
        log.warning("delivery_abandoned", msg_id=msg_id, error=error)


def _sealed_at(item: outbox.Pending) -> datetime:
    """When we sealed this envelope (kept with our copy of the message; else the signed
    time in its own header)."""
    if item.sealed_at is not None:
        return item.sealed_at
    header, _, _ = parse_header(item.envelope)
    return header.created_at
