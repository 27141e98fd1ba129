"""Who may send which message of the conversation, in which status (issue 16, item 5):
every (type, party, direction, status) combination, against a table written out here
rather than derived from the code under test."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from exchange.core.errors import Conflict, InvalidRequest, RateLimited, WrongParty
from exchange.core.lifecycle import (
    MESSAGE_TYPES,
    Party,
    Status,
    check_consent,
    check_message,
    check_reminder,
    transition,
)

S = Status
R, Q = Party.RECIPIENT, Party.REQUESTER
KIND = "information_request"  # a request that awaits its answer
OPEN = {
    S.QUEUED,
    S.DELIVERED,
    S.RECEIVED,
    S.TRANSFERRED,
    S.ACKNOWLEDGED,
    S.AWAITING_CLARIFICATION,
    S.PARTIALLY_ANSWERED,
}
# type: (who sends it, the statuses it is allowed in, the status it leads to or None
# when it moves nothing; a status absent from the target map keeps the status)
ALLOWED: dict[str, tuple[Party | None, set[Status], dict[Status, Status] | Status | None]] = {
    "clarification_request": (R, OPEN - {S.AWAITING_CLARIFICATION}, S.AWAITING_CLARIFICATION),
    "clarification": (Q, {S.AWAITING_CLARIFICATION}, S.ACKNOWLEDGED),
    "partial_response": (R, OPEN, S.PARTIALLY_ANSWERED),
    # a further response to an answered request is as before: it moves nothing
    "response": (R, OPEN | {S.ANSWERED}, S.ANSWERED),
    "rejection": (R, OPEN, S.REJECTED),
    "transfer": (R, OPEN - {S.PARTIALLY_ANSWERED}, S.TRANSFERRED),
    "withdrawal": (Q, OPEN, S.WITHDRAWN),
    "reminder": (Q, OPEN, None),
    "consent": (None, set(Status) - {S.DRAFT, S.EXPIRED}, None),
}


def _expected(msg_type: str, party: Party, direction: str, status: Status) -> type | None:
    """The error the table says, or None when the message is allowed."""
    if msg_type == "acknowledgement":
        if party is not R:
            return WrongParty
        if direction == "in":
            return None if status is S.RECEIVED else Conflict
        return None if status in OPEN | {S.ANSWERED} else Conflict
    if msg_type == "consent_request":
        if status in (S.DRAFT, S.EXPIRED):
            return Conflict
        if direction == "in" and status is S.TRANSFERRED and party is R:
            return None  # the old holder may still ask about what it received
        if party is Q and status not in {S.PARTIALLY_ANSWERED, S.ANSWERED, S.CLOSED}:
            return Conflict
        return None
    sender, allowed, _ = ALLOWED[msg_type]
    if sender is not None and party is not sender:
        return WrongParty
    if direction == "in" and status is S.TRANSFERRED and msg_type != "consent":
        return Conflict  # the node that transferred a request has no more say in it
    return None if status in allowed else Conflict


CASES = [
    (t, p, d, s)
    for t in MESSAGE_TYPES
    for p in Party
    for d in ("in", "out")
    for s in Status
    # the statuses a request can be in on that side
    if not (d == "in" and s in (S.DRAFT, S.QUEUED, S.DELIVERED, S.EXPIRED))
    and not (d == "out" and s is S.RECEIVED)
]


@pytest.mark.parametrize(("msg_type", "party", "direction", "status"), CASES)
def test_every_combination(msg_type: str, party: Party, direction: str, status: Status) -> None:
    want = _expected(msg_type, party, direction, status)
    if want is None:
        check_message(msg_type, party=party, direction=direction, status=status, kind=KIND)
    else:
        with pytest.raises(want):
            check_message(msg_type, party=party, direction=direction, status=status, kind=KIND)


@pytest.mark.parametrize(
    ("status", "msg_type", "after"),
    [
        (S.ACKNOWLEDGED, "clarification_request", S.AWAITING_CLARIFICATION),
        (S.RECEIVED, "clarification_request", S.AWAITING_CLARIFICATION),
        (S.PARTIALLY_ANSWERED, "clarification_request", S.AWAITING_CLARIFICATION),
        (S.AWAITING_CLARIFICATION, "clarification", S.ACKNOWLEDGED),
        (S.ACKNOWLEDGED, "partial_response", S.PARTIALLY_ANSWERED),
        (S.PARTIALLY_ANSWERED, "partial_response", S.PARTIALLY_ANSWERED),
        (S.PARTIALLY_ANSWERED, "response", S.ANSWERED),
        (S.AWAITING_CLARIFICATION, "response", S.ANSWERED),
        (S.RECEIVED, "transfer", S.TRANSFERRED),
        (S.ACKNOWLEDGED, "withdrawal", S.WITHDRAWN),
        (S.PARTIALLY_ANSWERED, "withdrawal", S.WITHDRAWN),
        # on the requester's side the new holder goes on from transferred
        (S.TRANSFERRED, "acknowledgement", S.ACKNOWLEDGED),
        (S.TRANSFERRED, "response", S.ANSWERED),
        (S.TRANSFERRED, "transfer", S.TRANSFERRED),
    ],
)
def test_where_each_message_takes_the_request(status: Status, msg_type: str, after: Status) -> None:
    event = MESSAGE_TYPES[msg_type][1]
    assert event is not None
    assert transition(status, event) is after


def test_a_withdrawn_request_takes_no_answer() -> None:
    for msg_type in ("acknowledgement", "partial_response", "response", "rejection", "transfer"):
        with pytest.raises(Conflict):
            check_message(msg_type, party=R, direction="out", status=S.WITHDRAWN, kind=KIND)
        with pytest.raises(Conflict):
            check_message(msg_type, party=R, direction="in", status=S.WITHDRAWN, kind=KIND)


def test_an_unknown_type_is_refused() -> None:
    with pytest.raises(InvalidRequest):
        check_message("request", party=Q, direction="out", status=S.DELIVERED, kind=KIND)
    with pytest.raises(InvalidRequest):
        check_message("gossip", party=R, direction="in", status=S.RECEIVED, kind=KIND)


def test_one_reminder_an_hour() -> None:
    now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    check_reminder(None, now)
    check_reminder(now - timedelta(hours=1), now)
    with pytest.raises(RateLimited) as limited:
        check_reminder(now - timedelta(minutes=59), now)
    assert 59 <= limited.value.retry_after <= 60


def test_a_consent_answers_an_open_question_of_the_other_party() -> None:
    check_consent(asked_by=Q, answered=False, party=R)
    check_consent(asked_by=R, answered=False, party=Q)
    with pytest.raises(Conflict):
        check_consent(asked_by=None, answered=False, party=R)
    with pytest.raises(Conflict):
        check_consent(asked_by=Q, answered=True, party=R)
    with pytest.raises(WrongParty):
        check_consent(asked_by=R, answered=False, party=R)
