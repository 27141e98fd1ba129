"""The pure rules of trusting the directory over time and across serials."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from exchange.core.directory_freshness import Freshness, SerialVerdict, judge_serial, lifetime

ISSUED = datetime(2026, 1, 1, tzinfo=UTC)
EXPIRES = ISSUED + timedelta(days=30)


def state_at(delta: timedelta) -> Freshness:
    return lifetime(issued_at=ISSUED, expires_at=EXPIRES, now=ISSUED + delta).state


def test_warnings_at_three_quarters_and_at_a_day_left_then_expired() -> None:
    assert state_at(timedelta(days=22)) is Freshness.FRESH
    assert state_at(timedelta(days=22, hours=12)) is Freshness.AGEING  # 75 %
    assert state_at(timedelta(days=29, hours=1)) is Freshness.ENDING  # under 24 h
    assert state_at(timedelta(days=30)) is Freshness.EXPIRED  # expires_at itself
    assert state_at(timedelta(days=69)) is Freshness.EXPIRED
    now = ISSUED + timedelta(days=15)
    half = lifetime(issued_at=ISSUED, expires_at=EXPIRES, now=now)
    assert half.used == 0.5 and half.seconds_left == 15 * 86400


def test_a_short_lived_directory_warns_at_a_day_left_before_three_quarters() -> None:
    expires = ISSUED + timedelta(hours=30)
    at = lifetime(issued_at=ISSUED, expires_at=expires, now=ISSUED + timedelta(hours=7))
    assert at.state is Freshness.ENDING


def test_serials_newer_same_rollback_equivocation() -> None:
    def judge(serial: int, sha: str) -> SerialVerdict:
        return judge_serial(held_serial=7, held_sha256="aa", serial=serial, sha256=sha)

    assert judge_serial(held_serial=None, held_sha256=None, serial=1, sha256="x") == "newer"
    assert judge(8, "bb") is SerialVerdict.NEWER
    assert judge(7, "aa") is SerialVerdict.SAME
    assert judge(7, "bb") is SerialVerdict.EQUIVOCATION
    assert judge(6, "aa") is SerialVerdict.ROLLBACK
