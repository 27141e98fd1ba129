"""Exponential backoff with full jitter, per destination (cf. Synapse retryutils)."""

from __future__ import annotations

import random
from datetime import timedelta


def retry_delay(
    attempts: int,
    *,
    initial: timedelta,
    maximum: timedelta,
    rng: random.Random | None = None,
) -> timedelta:
    """Delay before attempt ``attempts + 1``: uniform in [base/2, base], base doubling."""
    base = min(maximum.total_seconds(), initial.total_seconds() * (2 ** min(attempts, 32)))
    pick = (rng or random).uniform(0.5, 1.0)
    return timedelta(seconds=base * pick)


# Error codes a peer may answer with that can heal by themselves (its directory
# is older than ours, it does not know the thread yet, it is overloaded, its
# directory expired and waits for a fresh one).
RETRYABLE_CODES = frozenset(
    {
        "unknown_sender",
        "not_found",
        "rate_limited",
        "unavailable",
        "internal_error",
        "directory_expired",
    }
)
