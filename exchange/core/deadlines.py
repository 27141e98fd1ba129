"""Deadline rules for requests, as pure functions of the facts and the time.

A request's deadline is an absolute UTC instant carried inside the signed
request, so sender and recipient judge it alike. The clock that matters is
the time to answer: a response or a rejection stops it. The acknowledgement
stops a second, shorter clock where the policy sets one (an emergency must
be acknowledged within minutes, or it escalates at once).

States: ``on_track`` -> ``due_soon`` -> ``overdue`` while open; ``met`` or
``missed`` once answered. Escalations are the instants at which people must
be told: ``due_soon``, ``overdue`` and ``unacknowledged``; each happens at
most once per request (the store enforces it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum


class DeadlineState(StrEnum):
    ON_TRACK = "on_track"
    DUE_SOON = "due_soon"
    OVERDUE = "overdue"
    MET = "met"
    MISSED = "missed"


class Escalation(StrEnum):
    DUE_SOON = "due_soon"
    OVERDUE = "overdue"
    UNACKNOWLEDGED = "unacknowledged"


OPEN_STATES = frozenset({DeadlineState.ON_TRACK, DeadlineState.DUE_SOON, DeadlineState.OVERDUE})


@dataclass(frozen=True)
class DeadlinePolicy:
    """``due_soon_before`` (fixed lead time) wins over the fraction for its urgencies."""

    due_soon_fraction: float = 0.25
    due_soon_before: Mapping[str, timedelta] = field(default_factory=dict)
    acknowledge_within: Mapping[str, timedelta] = field(default_factory=dict)


@dataclass(frozen=True)
class DeadlineFacts:
    urgency: str
    created_at: datetime
    deadline: datetime
    acknowledged_at: datetime | None = None
    answered_at: datetime | None = None  # a response or a rejection


def due_soon_at(facts: DeadlineFacts, policy: DeadlinePolicy) -> datetime:
    window = max(facts.deadline - facts.created_at, timedelta(0))
    lead = policy.due_soon_before.get(facts.urgency, window * policy.due_soon_fraction)
    return facts.deadline - min(lead, window)


def acknowledge_by(facts: DeadlineFacts, policy: DeadlinePolicy) -> datetime | None:
    within = policy.acknowledge_within.get(facts.urgency)
    return facts.created_at + within if within is not None else None


def state_at(facts: DeadlineFacts, policy: DeadlinePolicy, now: datetime) -> DeadlineState:
    if facts.answered_at is not None:
        return DeadlineState.MET if facts.answered_at <= facts.deadline else DeadlineState.MISSED
    if now >= facts.deadline:
        return DeadlineState.OVERDUE
    if now >= due_soon_at(facts, policy):
        return DeadlineState.DUE_SOON
    return DeadlineState.ON_TRACK


def escalations_at(
    facts: DeadlineFacts, policy: DeadlinePolicy, now: datetime
) -> frozenset[Escalation]:
    """Every escalation whose moment has come by ``now`` and still matters.

    Once overdue, ``due_soon`` no longer matters (a node that was down past
    both instants reports only the overdue one); nothing escalates once the
    request has been answered.
    """
    if facts.answered_at is not None and facts.answered_at <= now:
        return frozenset()
    found: set[Escalation] = set()
    if now >= facts.deadline:
        found.add(Escalation.OVERDUE)
    elif now >= due_soon_at(facts, policy):
        found.add(Escalation.DUE_SOON)
    ack_by = acknowledge_by(facts, policy)
    late = facts.acknowledged_at is None or (ack_by is not None and facts.acknowledged_at > ack_by)
    if ack_by is not None and now >= ack_by and late:
        found.add(Escalation.UNACKNOWLEDGED)
    return frozenset(found)


def next_change(facts: DeadlineFacts, policy: DeadlinePolicy, now: datetime) -> datetime | None:
    """The next instant after ``now`` at which the state or the escalations change."""
    if facts.answered_at is not None:
        return None
    moments = [due_soon_at(facts, policy), facts.deadline]
    ack_by = acknowledge_by(facts, policy)
    if ack_by is not None and facts.acknowledged_at is None:
        moments.append(ack_by)
    later = [m for m in moments if m > now]
    return min(later) if later else None


def time_left(facts: DeadlineFacts, now: datetime) -> timedelta:
    """Negative when overdue; frozen at the answer once answered."""
    return facts.deadline - (facts.answered_at or now)


SPAN_EN = {
    "span_days_hours": "{days} d {hours} h",
    "span_days": "{days} d",
    "span_hours_minutes": "{hours} h {minutes} min",
    "span_hours": "{hours} h",
    "span_minutes": "{minutes} min",
    "span_under_minute": "less than a minute",
    "span_left": "{span} left",
    "span_overdue": "overdue by {span}",
}


def describe(left: timedelta, words: dict[str, str] = SPAN_EN) -> str:
    """The plain text shown beside a colour: "3 h 20 min left", "overdue by 2 h".

    ``words`` holds the ``SPAN_EN`` keys in another language (the UI's tables)."""
    seconds = abs(int(left.total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        key = "span_days_hours" if hours else "span_days"
    elif hours:
        key = "span_hours_minutes" if minutes else "span_hours"
    else:
        key = "span_minutes" if minutes else "span_under_minute"
    span = words[key].format(days=days, hours=hours, minutes=minutes)
    return words["span_left" if left.total_seconds() >= 0 else "span_overdue"].format(span=span)


def initial_plan(
    facts: DeadlineFacts, policy: DeadlinePolicy, now: datetime
) -> tuple[DeadlineState, datetime | None]:
    """The state a new request starts in, and when it must be looked at next."""
    return state_at(facts, policy, now), next_change(facts, policy, now)
