"""The deadline scheduler: moves requests through their deadline states on time,
records each escalation once and calls the configured webhooks, signed.

It sleeps until the next instant a state can change (computed by the pure
rules), or until woken: by a new request or answer, or by the clock itself
when the clock is an ``ObservableClock`` (tests move a manual clock and the
scheduler reacts at once: no test ever sleeps).
"""

from __future__ import annotations

import asyncio
import random
from datetime import datetime, timedelta

import aiohttp
import structlog

from ..core.backoff import retry_delay
from ..core.clock import ObservableClock
from ..core.webhook import AUTHORITY_HEADER, SIGNATURE_HEADER, signature_header
from ..runloop import wait_event
from ..service import deadlines
from ..service.node import Node
from ..store.deadlines import WebhookCall

log = structlog.get_logger("exchange.deadlines")
MAX_WAIT = 60.0  # look again at least this often (seconds), whatever the clock says
WEBHOOK_ATTEMPTS = 12


class DeadlineScheduler:
    def __init__(
        self, node: Node, session: aiohttp.ClientSession, rng: random.Random | None = None
    ) -> None:
        self.node = node
        self.session = session
        self.rng = rng or random.Random()  # noqa: S311 (retry jitter only)
        self._wake = asyncio.Event()
        self.last_swept_at: datetime | None = None  # the clock time the last sweep judged
        self._next: datetime | None = None  # when the loop plans to look again
        # another process of the authority may queue work this one cannot hear of
        # (active-active): then it looks at least every poll
        self.max_wait = MAX_WAIT

    def wake(self) -> None:
        self._wake.set()

    def notice(self, moment: datetime | None) -> None:
        """A new request changes state at ``moment``: wake only if that is sooner."""
        if moment is not None and (self._next is None or moment < self._next):
            self._wake.set()

    async def run(self) -> None:
        clock = self.node.clock
        unsubscribe = clock.subscribe(self.wake) if isinstance(clock, ObservableClock) else None
        try:
            while True:
                self._wake.clear()
                wait = self.max_wait
                try:
                    next_change = await self.sweep()
                    next_call = await self.send_webhooks()
                    now = self.node.clock.now()
                    for moment in (next_change, next_call):
                        if moment is not None:
                            wait = min(wait, max((moment - now).total_seconds(), 0.001))
                    self._next = now + timedelta(seconds=wait)
                except Exception:
                    log.exception("deadline_sweep_failed")
                await wait_event(self._wake, wait)
        finally:
            if unsubscribe is not None:
                unsubscribe()

    async def sweep(self) -> datetime | None:
        """Bring every deadline state up to now; returns when to look again."""
        now = self.node.clock.now()
        result = await deadlines.sweep(self.node, now)
        self.last_swept_at = now
        for item in result.escalated:
            log.warning(
                "deadline_escalated",
                request_id=item.request_id,
                escalation=item.kind,
                urgency=item.urgency,
                direction=item.direction,
                peer=item.counterpart,
                deadline=item.deadline,
            )
        return result.next_change

    async def send_webhooks(self) -> datetime | None:
        """Deliver the webhook calls that are due; returns when the next one is."""
        now = self.node.clock.now()
        calls = await deadlines.due_webhooks(self.node, now)
        for call in calls:
            error = await self._post(call)
            if error is None:
                await deadlines.webhook_done(self.node, call.id)
                log.info("webhook_delivered", call_id=call.id)
                continue
            retry_at: datetime | None = None
            if call.attempts + 1 < WEBHOOK_ATTEMPTS:
                delay = retry_delay(
                    call.attempts,
                    initial=self.node.config.delivery.backoff_initial,
                    maximum=self.node.config.delivery.backoff_max,
                    rng=self.rng,
                )
                retry_at = now + delay
            await deadlines.webhook_failed(self.node, call.id, error=error, retry_at=retry_at)
            log.warning("webhook_failed", call_id=call.id, error=error, gave_up=retry_at is None)
        return await deadlines.next_webhook_at(self.node)

    async def _post(self, call: WebhookCall) -> str | None:
        key = self.node.signing_key(self.node.clock.now())
        headers = {
            "Content-Type": "application/json",
            AUTHORITY_HEADER: self.node.me,
            SIGNATURE_HEADER: signature_header(key, call.body),
        }
        timeout = aiohttp.ClientTimeout(
            total=self.node.config.escalation.webhook_timeout.total_seconds()
        )
        try:
            async with self.session.post(
                call.url, data=call.body, headers=headers, timeout=timeout
            ) as response:
                await response.read()
                if 200 <= response.status < 300:
                    return None
                return f"http_{response.status}"
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            return type(exc).__name__
