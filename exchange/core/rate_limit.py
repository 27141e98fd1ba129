"""Token buckets per caller: a clear 429 with Retry-After instead of overload.

Pure and clock-driven: ``take(key, now)`` either spends a token or raises
``RateLimited`` saying when the next one is due. Buckets of idle callers are
dropped so a flood of distinct keys cannot grow memory without bound.
"""

from __future__ import annotations

from datetime import datetime

from .errors import RateLimited

MAX_KEYS = 10_000


class RateLimiter:
    def __init__(self, *, per_minute: float, burst: int) -> None:
        if per_minute <= 0 or burst < 1:
            raise ValueError("per_minute must be positive and burst at least 1")
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self._buckets: dict[str, tuple[float, datetime]] = {}

    def take(self, key: str, now: datetime) -> None:
        tokens, last = self._buckets.get(key, (self.burst, now))
        elapsed = max(0.0, (now - last).total_seconds())
        tokens = min(self.burst, tokens + elapsed * self.rate)
        if tokens < 1.0:
            self._buckets[key] = (tokens, now)
            raise RateLimited("too many calls: slow down", retry_after=(1.0 - tokens) / self.rate)
        self._buckets[key] = (tokens - 1.0, now)
        if len(self._buckets) > MAX_KEYS:
            self._forget_full(now)

    def _forget_full(self, now: datetime) -> None:
        full_after = self.burst / self.rate
        self._buckets = {
            k: v for k, v in self._buckets.items() if (now - v[1]).total_seconds() < full_after
        }
