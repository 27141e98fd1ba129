"""Deadline rules: states, escalation instants and their wording, at exact instants."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from exchange.core.deadlines import (
    DeadlineFacts,
    DeadlinePolicy,
    DeadlineState,
    Escalation,
    describe,
    due_soon_at,
    escalations_at,
    next_change,
    state_at,
)

T0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
H = timedelta(hours=1)
POLICY = DeadlinePolicy(
    due_soon_fraction=0.25,
    due_soon_before={"emergency": 2 * H},
    acknowledge_within={"emergency": timedelta(minutes=30)},
)


def facts(urgency: str, hours: float, **kw: datetime) -> DeadlineFacts:
    return DeadlineFacts(urgency, T0, T0 + hours * H, **kw)


@pytest.mark.parametrize(
    ("urgency", "hours", "due_soon_after"),
    [("emergency", 8, 6 * H), ("urgent", 24, 18 * H), ("standard", 720, 540 * H)],
)
def test_states_change_at_exact_instants(
    urgency: str, hours: int, due_soon_after: timedelta
) -> None:
    f = facts(urgency, hours)
    assert due_soon_at(f, POLICY) == T0 + due_soon_after
    tick = timedelta(microseconds=1)
    assert state_at(f, POLICY, T0 + due_soon_after - tick) is DeadlineState.ON_TRACK
    assert state_at(f, POLICY, T0 + due_soon_after) is DeadlineState.DUE_SOON
    assert state_at(f, POLICY, f.deadline - tick) is DeadlineState.DUE_SOON
    assert state_at(f, POLICY, f.deadline) is DeadlineState.OVERDUE


def test_answer_stops_the_clock() -> None:
    on_time = facts("urgent", 24, answered_at=T0 + 23 * H)
    late = facts("urgent", 24, answered_at=T0 + 25 * H)
    assert state_at(on_time, POLICY, T0 + 100 * H) is DeadlineState.MET
    assert state_at(late, POLICY, T0 + 100 * H) is DeadlineState.MISSED
    assert next_change(on_time, POLICY, T0) is None
    assert escalations_at(on_time, POLICY, T0 + 30 * H) == frozenset()


def test_escalations_and_next_change() -> None:
    f = facts("emergency", 8)
    assert escalations_at(f, POLICY, T0) == frozenset()
    assert next_change(f, POLICY, T0) == T0 + timedelta(minutes=30)
    assert escalations_at(f, POLICY, T0 + timedelta(minutes=30)) == {Escalation.UNACKNOWLEDGED}
    assert next_change(f, POLICY, T0 + timedelta(minutes=30)) == T0 + 6 * H
    assert escalations_at(f, POLICY, T0 + 6 * H) == {Escalation.UNACKNOWLEDGED, Escalation.DUE_SOON}
    # once overdue, due soon no longer matters
    assert escalations_at(f, POLICY, T0 + 8 * H) == {Escalation.UNACKNOWLEDGED, Escalation.OVERDUE}
    assert next_change(f, POLICY, T0 + 8 * H) is None


def test_acknowledged_in_time_does_not_escalate() -> None:
    f = facts("emergency", 8, acknowledged_at=T0 + timedelta(minutes=10))
    assert escalations_at(f, POLICY, T0 + H) == frozenset()
    assert next_change(f, POLICY, T0) == T0 + 6 * H
    late = facts("emergency", 8, acknowledged_at=T0 + H)
    assert escalations_at(late, POLICY, T0 + 2 * H) == {Escalation.UNACKNOWLEDGED}


def test_own_deadline_shorter_than_due_soon_lead() -> None:
    f = facts("emergency", 1)  # the 2 h lead is longer than the window: due soon at once
    assert due_soon_at(f, POLICY) == T0
    assert state_at(f, POLICY, T0) is DeadlineState.DUE_SOON


@pytest.mark.parametrize(
    ("left", "text"),
    [
        (3 * H + timedelta(minutes=20), "3 h 20 min left"),
        (-2 * H, "overdue by 2 h"),
        (timedelta(days=2, hours=4), "2 d 4 h left"),
        (timedelta(seconds=20), "less than a minute left"),
        (timedelta(minutes=-5), "overdue by 5 min"),
    ],
)
def test_describe(left: timedelta, text: str) -> None:
    assert describe(left) == text
