"""Leases on background duties (active-active, issue 18): the pure rules.

Several processes of one authority share one database; each background duty (delivery
to a peer, checkpoint signing, the witness, deadline sweeps...) runs in the one process
holding its lease. A lease is a row: duty, holder (a random id per process start),
expiry, and a fencing counter raised at every acquisition. ``store/leases.py`` reads
and writes the row; this module decides, from the row and the time alone:

- ``may_take``: whether a process may take a duty's row (free, expired, or its own);
- ``LeaseState`` with ``on_*`` events -> a ``Step`` (new state + action): the holder's
  small state machine. A holder stops its duty at ``expires_at - margin`` unless a
  renewal has moved the expiry on, so it has stopped *before* another process can take
  the row (which it may only once ``now >= expires_at``). ``margin`` covers the time
  to cancel a duty and clock skew between machines.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

from .errors import ExchangeError


class LeaseLost(ExchangeError):
    """This process no longer holds the lease a write was fenced by: the write is
    rolled back (another process may hold the duty now)."""

    code = "lease_lost"


@dataclass(frozen=True)
class LeaseTiming:
    """``ttl``: how long a written lease lasts; ``renew_every``: how often a holder
    renews (well below ``ttl``); ``margin``: how long before its expiry a holder that
    could not renew stops. Takeover of a dead process's duty takes at most
    ``ttl + renew_every`` (the row expires, then a contender's next try)."""

    ttl: timedelta = timedelta(seconds=6)
    renew_every: timedelta = timedelta(seconds=2)
    margin: timedelta = timedelta(seconds=1)

    def __post_init__(self) -> None:
        if not timedelta(0) < self.margin < self.ttl - self.renew_every:
            raise ValueError("a lease needs 0 < margin < ttl - renew_every")

    @property
    def takeover_bound(self) -> timedelta:
        return self.ttl + self.renew_every


@dataclass(frozen=True)
class Fence:
    """What a duty's writes are fenced by: they commit only while ``holder`` still
    holds ``duty`` under ``number`` (``store.leases.require``)."""

    duty: str
    holder: str
    number: int


@dataclass(frozen=True)
class LeaseRow:
    """A duty's row as stored."""

    duty: str
    holder: str
    expires_at: datetime
    fence: int


def may_take(row: LeaseRow | None, holder: str, now: datetime) -> bool:
    """A process may take a duty nobody holds, whose lease expired, or its own."""
    return row is None or row.holder == holder or now >= row.expires_at


class Action(Enum):
    NONE = "none"
    START = "start"  # run the duty now
    STOP = "stop"  # cancel the duty now: the lease is (or may soon be) another's


@dataclass(frozen=True)
class Held:
    fence: int
    expires_at: datetime


@dataclass(frozen=True)
class Step:
    state: Held | None
    action: Action


def on_acquired(state: Held | None, fence: int, expires_at: datetime) -> Step:
    if state is not None and state.fence == fence:
        return Step(Held(fence, expires_at), Action.NONE)
    return Step(Held(fence, expires_at), Action.START)


def on_renewed(state: Held | None, expires_at: datetime) -> Step:
    if state is None:  # stopped meanwhile (the local deadline passed): stays stopped
        return Step(None, Action.NONE)
    return Step(Held(state.fence, max(state.expires_at, expires_at)), Action.NONE)


def on_refused(state: Held | None) -> Step:
    """The row is not ours any more (taken over, or renewed too late)."""
    return Step(None, Action.STOP if state is not None else Action.NONE)


def on_tick(state: Held | None, now: datetime, timing: LeaseTiming) -> Step:
    """The local deadline: a renewal that failed, hung or came late stops the duty."""
    if state is not None and now >= stop_at(state, timing):
        return Step(None, Action.STOP)
    return Step(state, Action.NONE)


def stop_at(state: Held, timing: LeaseTiming) -> datetime:
    return state.expires_at - timing.margin


# Each live process holds a lease on its own ``member:<holder>`` row (renewed with its
# other leases): the processes alive now are the unexpired member rows.
MEMBER = "member:"


def member_duty(holder: str) -> str:
    return MEMBER + holder


@dataclass(frozen=True)
class DeliveryShare:
    """This process's fair share of the peers to deliver to: ``take`` the peers to try
    (its own first), at most ``room`` of them; ``hand_over`` the peers it delivers to
    now beyond its share (their drain stops after the batches in flight, their leases
    are let go, and another live process takes them)."""

    take: list[str]
    room: int
    hand_over: list[str]


def delivery_share(
    due: Collection[str], held: Collection[str], members: Sequence[str], me: str
) -> DeliveryShare:
    """With ``n`` live processes, a process holds at most ceil(peers / n) ``delivery:``
    leases (the quotas of all together cover every peer), preferring its own peers:
    the peers, in the order of their hash, dealt round robin to the live processes
    (every process deals the same peers alike, and each gets its fair number).
    Alone, a process takes every peer."""
    live = sorted({*members, me})
    peers = sorted({*due, *held}, key=lambda p: hashlib.sha256(p.encode()).digest())
    quota = -(-len(peers) // len(live))
    owner = {peer: live[i % len(live)] for i, peer in enumerate(peers)}

    def rank(peer: str) -> tuple[bool, str]:
        return (owner[peer] != me, peer)

    kept = sorted(held, key=rank)
    return DeliveryShare(
        take=sorted((p for p in due if p not in held), key=rank),
        room=max(quota - len(kept), 0),
        hand_over=kept[quota:],
    )
