"""Token buckets with an injected time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from exchange.core.errors import RateLimited
from exchange.core.rate_limit import RateLimiter

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def test_burst_then_refill_per_caller() -> None:
    limiter = RateLimiter(per_minute=60, burst=3)
    for _ in range(3):
        limiter.take("MA-CNA", T0)
    with pytest.raises(RateLimited) as caught:
        limiter.take("MA-CNA", T0)
    assert caught.value.retry_after == pytest.approx(1.0)
    limiter.take("SN-CNA", T0)  # another caller has its own bucket
    limiter.take("MA-CNA", T0 + timedelta(seconds=1))
    with pytest.raises(RateLimited):
        limiter.take("MA-CNA", T0 + timedelta(seconds=1))


def test_idle_buckets_are_forgotten() -> None:
    limiter = RateLimiter(per_minute=600, burst=1)
    for i in range(10_050):
        limiter.take(f"ip-{i}", T0 + timedelta(seconds=i))
    assert len(limiter._buckets) < 10_001
