"""The lease keeper: a process runs a background duty only while it holds the duty's
lease in the database (active-active, issue 18; the rules are ``core.lease``'s).

One keeper per process, under a holder id drawn at start. ``acquire`` takes a lease
(one database job) and ``release`` lets it go; ``run`` renews every lease held in one
job every ``renew_every``. Each lease held has a watchdog on the event loop that stops
its duty at ``expires_at - margin`` unless a renewal moved the expiry on: a renewal
that fails, hangs behind a locked database or is refused (taken over) stops the duty
before another process may take it. ``hold`` runs a duty under its lease for as long
as the process lives, taking it again whenever it is free.

With ``[cluster] active_active = false`` (one process per data folder, the default)
every lease is granted at once, in memory: no database job, nothing to renew.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import structlog

from ..core.lease import (
    Action,
    Fence,
    Held,
    LeaseLost,
    LeaseTiming,
    member_duty,
    on_acquired,
    on_refused,
    on_renewed,
    on_tick,
    stop_at,
)
from ..service import leases
from ..service.node import Node

log = structlog.get_logger("exchange.leases")


@dataclass(eq=False)
class Grant:
    """A lease this process holds: ``lost`` is set once its duty must stop."""

    fence: Fence
    state: Held | None
    lost: asyncio.Event = field(default_factory=asyncio.Event)
    timer: asyncio.TimerHandle | None = None

    @property
    def duty(self) -> str:
        return self.fence.duty

    @property
    def write_fence(self) -> Fence | None:
        """What the duty's writes check; None for a process alone on its data folder
        (its grants are in memory, fence 0: there is no row to check)."""
        return self.fence if self.fence.number > 0 else None


Duty = Callable[[Grant], Coroutine[Any, Any, None]]


class LeaseKeeper:
    def __init__(self, node: Node, holder: str, timing: LeaseTiming, *, shared: bool) -> None:
        self.node = node
        self.holder = holder
        self.timing = timing
        self.shared = shared
        self._grants: dict[str, Grant] = {}
        # duty -> loop time before which another try is pointless (it was held elsewhere)
        self._refused: dict[str, float] = {}
        # the live processes (member rows) as last read, with their rows' expiry
        self._members: list[tuple[str, datetime]] = []
        self.retry_after = min(node.config.cluster.poll, timing.renew_every).total_seconds()

    def local(self, duty: str) -> Grant:
        """A grant for a process alone on its data folder: nothing to hold."""
        return Grant(Fence(duty, self.holder, 0), None)

    def held(self) -> list[str]:
        return sorted(self._grants)

    def members(self) -> list[str]:
        """The processes of this authority alive now, as of the last renewal (a member
        whose row's expiry passed since is counted dead: its leases have expired too,
        as they are renewed in the same transaction)."""
        now = self.node.clock.now()
        return sorted(holder for holder, expires in self._members if expires > now)

    async def acquire(self, duty: str) -> Grant | None:
        """The duty's lease for this process, or None while another process holds it."""
        current = self._grants.get(duty)
        if current is not None:
            return current
        if not self.shared:
            return self.local(duty)
        loop = asyncio.get_running_loop()
        if loop.time() < self._refused.get(duty, float("-inf")):
            return None  # held elsewhere a moment ago: no write transaction to learn it again
        row = await leases.acquire(self.node, duty, self.holder, self.timing.ttl)
        if row is None:
            self._refused[duty] = loop.time() + self.retry_after
            return None
        self._refused.pop(duty, None)
        step = on_acquired(None, row.fence, row.expires_at)
        grant = Grant(Fence(duty, self.holder, row.fence), step.state)
        self._grants[duty] = grant
        self._watch(grant)
        log.info("lease_acquired", duty=duty, fence=row.fence, holder=self.holder)
        return grant

    async def release(self, grant: Grant) -> None:
        if self._grants.get(grant.duty) is not grant:
            return
        self._forget(grant)
        if self.shared and grant.state is not None:
            grant.state = None
            log.info("lease_released", duty=grant.duty, fence=grant.fence.number)
            await leases.release(self.node, grant.duty, self.holder, grant.fence.number)

    async def run(self) -> None:
        """Hold this process's member row (its presence: ``members``), and renew every
        lease held, in one database job, every ``renew_every``."""
        if not self.shared:
            return
        every = self.timing.renew_every.total_seconds()
        me = member_duty(self.holder)
        try:
            while True:
                if me not in self._grants:  # at start, or after a renewal came too late
                    try:
                        await self.acquire(me)
                        self._members = await leases.members(self.node)
                    except Exception as exc:  # the next round tries again
                        log.warning("lease_acquire_failed", duty=me, error=type(exc).__name__)
                await asyncio.sleep(every)
                await self.renew_all()
        finally:  # stopping: the others count without this process at once, not at expiry
            grant = self._grants.get(me)
            if grant is not None:
                with contextlib.suppress(Exception):
                    await self.release(grant)

    async def renew_all(self) -> None:
        held = [g for g in self._grants.values() if g.state is not None]
        if not held:
            return
        pairs = [(g.duty, g.fence.number) for g in held]
        try:
            renewed, expires_at, self._members = await leases.renew(
                self.node, self.holder, pairs, self.timing.ttl
            )
        except Exception as exc:  # the watchdogs stop the duties in time if this lasts
            log.warning("lease_renewal_failed", error=type(exc).__name__, count=len(held))
            return
        for grant in held:
            if self._grants.get(grant.duty) is not grant:
                continue  # released meanwhile
            step = (
                on_renewed(grant.state, expires_at)
                if grant.duty in renewed
                else on_refused(grant.state)
            )
            grant.state = step.state
            if step.action is Action.STOP:
                self._lose(grant, "taken_over")

    async def hold(self, duty: str, work: Duty) -> None:
        """Run ``work(grant)`` whenever this process holds ``duty``; stop it at once
        when the lease is lost; try again every ``renew_every`` while another holds it."""
        retry = self.timing.renew_every.total_seconds()
        while True:
            try:
                grant = await self.acquire(duty)
            except Exception as exc:  # e.g. the database is locked for a moment
                log.warning("lease_acquire_failed", duty=duty, error=type(exc).__name__)
                grant = None
            if grant is None:
                await asyncio.sleep(retry)
                continue
            await self.run_under(grant, work)
            await asyncio.sleep(retry)  # the duty ended or was lost: not in a tight loop

    async def run_under(self, grant: Grant, work: Duty) -> None:
        """``work(grant)`` until it ends or the lease is lost; then the lease is let go."""
        task = asyncio.create_task(work(grant), name=f"duty-{grant.duty}")
        lost = asyncio.create_task(grant.lost.wait())
        try:
            await asyncio.wait({task, lost}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            lost.cancel()
            if not task.done():
                task.cancel()
            outcome = (await asyncio.gather(task, return_exceptions=True))[0]
            if isinstance(outcome, LeaseLost) and self._grants.get(grant.duty) is grant:
                self._lose(grant, "fenced_write_refused")  # taken over: seen before a renewal
            elif isinstance(outcome, Exception):
                log.error("duty_failed", duty=grant.duty, error=type(outcome).__name__)
            if grant.lost.is_set():
                log.warning("duty_stopped", duty=grant.duty, fence=grant.fence.number)
            with contextlib.suppress(Exception):
                await self.release(grant)

    def _watch(self, grant: Grant) -> None:
        if grant.state is None:
            return
        delay = (stop_at(grant.state, self.timing) - self.node.clock.now()).total_seconds()
        loop = asyncio.get_running_loop()
        grant.timer = loop.call_later(max(delay, 0.0), self._check, grant)

    def _check(self, grant: Grant) -> None:
        if self._grants.get(grant.duty) is not grant:
            return
        step = on_tick(grant.state, self.node.clock.now(), self.timing)
        grant.state = step.state
        if step.action is Action.STOP:
            self._lose(grant, "not_renewed_in_time")
        else:
            self._watch(grant)

    def _lose(self, grant: Grant, reason: str) -> None:
        self._forget(grant)
        grant.state = None
        grant.lost.set()
        log.warning("lease_lost", duty=grant.duty, fence=grant.fence.number, reason=reason)

    def _forget(self, grant: Grant) -> None:
        if self._grants.get(grant.duty) is grant:
            del self._grants[grant.duty]
        if grant.timer is not None:
            grant.timer.cancel()
            grant.timer = None
