"""Pure rules for trusting the directory over time: how far through its lifetime it
is (the node warns at 75 % and at 24 h left, refuses to exchange once expired) and
how a newly fetched document compares with the one held (newer, the same, a
rollback, or an equivocation: the same serial with other bytes)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

WARN_FRACTION = 0.75
WARN_LEFT = timedelta(hours=24)


class Freshness(StrEnum):
    FRESH = "fresh"
    AGEING = "ageing"  # 75 % of the lifetime used: time to sign a new one
    ENDING = "ending"  # under 24 h left
    EXPIRED = "expired"  # no envelope goes in or out


@dataclass(frozen=True)
class Lifetime:
    state: Freshness
    seconds_left: float
    used: float  # fraction of the lifetime used, 0.0 .. (above 1.0 once expired)


def lifetime(*, issued_at: datetime, expires_at: datetime, now: datetime) -> Lifetime:
    """Where ``now`` falls in the lifetime ``[issued_at, expires_at)``.

    The lifetime counts from the issue time the document carries (``issued_at`` is
    required in every directory payload), not from when this node installed it, so
    every node warns at the same moment.
    """
    total = (expires_at - issued_at).total_seconds()
    left = (expires_at - now).total_seconds()
    used = (now - issued_at).total_seconds() / total if total > 0 else 1.0
    if left <= 0:
        state = Freshness.EXPIRED
    elif left <= WARN_LEFT.total_seconds():
        state = Freshness.ENDING
    elif used >= WARN_FRACTION:
        state = Freshness.AGEING
    else:
        state = Freshness.FRESH
    return Lifetime(state, left, max(used, 0.0))


class SerialVerdict(StrEnum):
    NEWER = "newer"  # install it
    SAME = "same"  # the document held, byte for byte: nothing to do
    EQUIVOCATION = "equivocation"  # same serial, other bytes: keep the first, alert
    ROLLBACK = "rollback"  # older than the highest serial ever held: refuse


def judge_serial(
    *, held_serial: int | None, held_sha256: str | None, serial: int, sha256: str
) -> SerialVerdict:
    """Compare a verified document with the highest serial this node ever held."""
    if held_serial is None or serial > held_serial:
        return SerialVerdict.NEWER
    if serial < held_serial:
        return SerialVerdict.ROLLBACK
    return SerialVerdict.SAME if sha256 == held_sha256 else SerialVerdict.EQUIVOCATION
