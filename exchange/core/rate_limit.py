"""Token buckets per caller: a clear 429 with Retry-After instead of overload.

Pure and clock-driven: ``take(key, now)`` either spends a token or raises
``RateLimited`` saying when the next one is due. Buckets of idle callers are
dropped so a flood of distinct keys cannot grow memory without bound.
"""

from __future__ import annotations

from datetime import datetime

from .clock import Clock
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


class ConnectionGate:
    """Counts each address's open connections and spends a token per new one."""

    def __init__(self, *, per_minute: int, burst: int, max_open: int, clock: Clock) -> None:
        self._limiter = RateLimiter(per_minute=per_minute, burst=burst) if per_minute else None
        self.max_open = max_open
        self.clock = clock
        self._open: dict[str, int] = {}
        # id() of a refused connection's handler -> seconds to wait; an entry lives
        # exactly as long as its connection, so an id is never mistaken for another's
        self._refused: dict[int, float] = {}

    def opened(self, handler_id: int, address: str) -> bool:
        """Count a new connection; False when it is over a limit (refused)."""
        count = self._open.get(address, 0) + 1
        self._open[address] = count
        try:
            if self.max_open and count > self.max_open:
                raise RateLimited("too many open connections from your address", retry_after=1.0)
            if self._limiter is not None:
                self._limiter.take(address, self.clock.now())
        except RateLimited as exc:
            self._refused[handler_id] = exc.retry_after
            return False
        return True

    def closed(self, handler_id: int, address: str) -> None:
        self._refused.pop(handler_id, None)
        count = self._open.get(address, 0) - 1
        if count > 0:
            self._open[address] = count
        else:
            self._open.pop(address, None)

    def refused(self, handler_id: int) -> float | None:
        """Seconds to wait if this connection was refused, else None."""
        return self._refused.get(handler_id)

    def open_connections(self, address: str) -> int:
        return self._open.get(address, 0)
