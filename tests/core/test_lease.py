"""The lease holder's state machine (core/lease.py), driven directly: no database, no
event loop, the time given."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from exchange.core.lease import (
    Action,
    Held,
    LeaseRow,
    LeaseTiming,
    delivery_share,
    may_take,
    on_acquired,
    on_refused,
    on_renewed,
    on_tick,
    stop_at,
)

T0 = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)
TIMING = LeaseTiming()  # ttl 6 s, renew every 2 s, margin 1 s
S = timedelta(seconds=1)


def test_only_a_free_expired_or_own_row_may_be_taken() -> None:
    row = LeaseRow("checkpoints", "a", T0 + 6 * S, 3)
    assert may_take(None, "b", T0)
    assert may_take(row, "a", T0)  # its own
    assert not may_take(row, "b", T0 + 5 * S)
    assert not may_take(row, "b", T0 + 6 * S - timedelta(milliseconds=1))
    assert may_take(row, "b", T0 + 6 * S)  # expired


def test_an_acquired_lease_starts_the_duty_once() -> None:
    step = on_acquired(None, 4, T0 + 6 * S)
    assert step == (step.__class__(Held(4, T0 + 6 * S), Action.START))
    again = on_acquired(step.state, 4, T0 + 8 * S)  # the same fence: nothing to start
    assert again.action is Action.NONE and again.state == Held(4, T0 + 8 * S)
    newer = on_acquired(step.state, 5, T0 + 9 * S)  # a new fence is a new holding
    assert newer.action is Action.START


def test_renewals_keep_the_duty_running_past_the_first_expiry() -> None:
    state = on_acquired(None, 1, T0 + 6 * S).state
    for second in (2, 4, 6, 8):
        assert on_tick(state, T0 + second * S - timedelta(milliseconds=1), TIMING).action is (
            Action.NONE
        )
        state = on_renewed(state, T0 + (second + 6) * S).state
    assert state == Held(1, T0 + 14 * S)
    assert on_tick(state, T0 + 12 * S, TIMING).action is Action.NONE


@pytest.mark.parametrize("late", [0, 1, 500])
def test_a_holder_that_cannot_renew_stops_before_anyone_may_take_over(late: int) -> None:
    state = on_acquired(None, 1, T0 + 6 * S).state
    assert state is not None
    deadline = stop_at(state, TIMING)
    assert deadline == T0 + 5 * S  # a margin before the row's expiry
    assert on_tick(state, deadline - timedelta(microseconds=1), TIMING).action is Action.NONE
    step = on_tick(state, deadline + timedelta(milliseconds=late), TIMING)
    assert step == step.__class__(None, Action.STOP)
    # ...and the row is not free for anyone else until a full margin later
    assert not may_take(LeaseRow("d", "a", state.expires_at, 1), "b", deadline)


def test_a_refused_renewal_stops_the_duty_and_a_late_success_does_not_restart_it() -> None:
    state = on_acquired(None, 1, T0 + 6 * S).state
    assert on_refused(state).action is Action.STOP
    assert on_refused(None).action is Action.NONE
    assert on_renewed(None, T0 + 20 * S) == on_renewed(None, T0).__class__(None, Action.NONE)


def test_a_renewal_never_moves_the_expiry_back() -> None:
    state = Held(1, T0 + 8 * S)
    assert on_renewed(state, T0 + 7 * S).state == Held(1, T0 + 8 * S)


@pytest.mark.parametrize(("ttl", "renew", "margin"), [(6, 2, 0), (6, 2, 4), (6, 6, 1), (3, 2, 1)])
def test_timings_that_could_overlap_two_holders_are_refused(
    ttl: int, renew: int, margin: int
) -> None:
    with pytest.raises(ValueError, match="margin"):
        LeaseTiming(ttl * S, renew * S, margin * S)


def test_takeover_is_bounded_under_ten_seconds_by_default() -> None:
    assert TIMING.takeover_bound == 8 * S


PEERS = ["DE-CNA", "FR-CNA", "IT-CNA", "MA-CNA"]


def test_live_processes_split_the_peers_and_together_cover_them() -> None:
    shares = {me: delivery_share(PEERS, [], ["a", "b"], me) for me in ("a", "b")}
    assert all(s.room == 2 and not s.hand_over for s in shares.values())  # ceil(4 / 2)
    firsts = [set(s.take[:2]) for s in shares.values()]  # each tries its own peers first
    assert firsts[0] | firsts[1] == set(PEERS) and not firsts[0] & firsts[1]
    assert delivery_share(PEERS, [], ["a", "b", "c", "d"], "c").room == 1


def test_a_process_alone_takes_every_peer_and_hands_over_when_another_joins() -> None:
    alone = delivery_share(PEERS, [], [], "a")
    assert alone.room == 4 and sorted(alone.take) == PEERS
    joined = delivery_share(PEERS, PEERS, ["a", "b"], "a")
    assert joined.room == 0 and len(joined.hand_over) == 2
    kept = set(PEERS) - set(joined.hand_over)
    assert kept == set(delivery_share(PEERS, [], ["a", "b"], "a").take[:2])  # its own kept
    # what a keeps and what b takes first are the same split
    assert set(joined.hand_over) == set(delivery_share(PEERS, [], ["a", "b"], "b").take[:2])
