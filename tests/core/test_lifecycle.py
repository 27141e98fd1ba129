from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from exchange.core.errors import BadTime, Conflict, InvalidRequest, WrongParty
from exchange.core.lifecycle import (
    Event,
    Party,
    Status,
    check_draft,
    check_follow_up,
    check_follow_up_time,
    transition,
)
from exchange.core.peer_auth import MAX_SKEW, MAX_TRANSIT


def test_forward_path() -> None:
    s = Status.DRAFT
    for event, want in [
        (Event.QUEUE, Status.QUEUED),
        (Event.DELIVER, Status.DELIVERED),
        (Event.ACKNOWLEDGE, Status.ACKNOWLEDGED),
        (Event.ANSWER, Status.ANSWERED),
        (Event.CLOSE, Status.CLOSED),
    ]:
        s = transition(s, event)
        assert s is want


def test_out_of_order_events_never_move_back() -> None:
    # A response overtakes a receipt that was stored late after a crash.
    assert transition(Status.QUEUED, Event.ANSWER) is Status.ANSWERED
    assert transition(Status.ANSWERED, Event.DELIVER) is Status.ANSWERED
    assert transition(Status.ANSWERED, Event.ACKNOWLEDGE) is Status.ANSWERED
    assert transition(Status.CLOSED, Event.DELIVER) is Status.CLOSED


@pytest.mark.parametrize(
    ("status", "event"),
    [
        (Status.REJECTED, Event.ANSWER),
        (Status.EXPIRED, Event.DELIVER),
        (Status.ANSWERED, Event.REJECT),
        (Status.CLOSED, Event.REJECT),
        (Status.DELIVERED, Event.EXPIRE),
        (Status.CLOSED, Event.ANSWER),
        (Status.DRAFT, Event.CLOSE),
    ],
)
def test_impossible_transitions_conflict(status: Status, event: Event) -> None:
    with pytest.raises(Conflict):
        transition(status, event)


def test_reject_and_expire() -> None:
    assert transition(Status.RECEIVED, Event.REJECT) is Status.REJECTED
    assert transition(Status.ACKNOWLEDGED, Event.REJECT) is Status.REJECTED
    assert transition(Status.QUEUED, Event.EXPIRE) is Status.EXPIRED


def test_only_the_authority_a_request_went_to_may_follow_it_up() -> None:
    me = "ES-CNA"
    party = check_follow_up(
        direction="out", origin=me, counterpart="MA-CNA", sender="MA-CNA", me=me
    )
    assert party is Party.RECIPIENT


def test_the_requester_speaks_for_the_request_it_sent_us() -> None:
    """Issue 16: a peer may now follow up the request it sent us (a clarification, a
    withdrawal...), as its requester; which types it may send is check_message's."""
    party = check_follow_up(
        direction="in", origin="MA-CNA", counterpart="MA-CNA", sender="MA-CNA", me="ES-CNA"
    )
    assert party is Party.REQUESTER


@pytest.mark.parametrize(
    ("direction", "origin", "counterpart", "sender"),
    [
        ("out", "ES-CNA", "MA-CNA", "SN-CNA"),  # a third party, on a request we sent to MA
        ("in", "MA-CNA", "MA-CNA", "SN-CNA"),  # a third party, on a request MA sent us
        ("out", "MA-CNA", "MA-CNA", "MA-CNA"),  # outgoing, but not ours
    ],
)
def test_any_other_party_is_refused(
    direction: str, origin: str, counterpart: str, sender: str
) -> None:
    with pytest.raises(WrongParty) as refused:
        check_follow_up(
            direction=direction, origin=origin, counterpart=counterpart, sender=sender, me="ES-CNA"
        )
    assert refused.value.code == "wrong_party"


def test_only_a_draft_changes() -> None:
    check_draft(Status.DRAFT)
    for status in Status:
        if status is not Status.DRAFT:
            with pytest.raises(InvalidRequest):
                check_draft(status)


def test_a_follow_up_is_timed_between_its_request_and_its_arrival() -> None:
    sent = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    arrived = sent + timedelta(days=4)
    tick = timedelta(microseconds=1)
    for signed in (arrived - MAX_TRANSIT, arrived, arrived + MAX_SKEW):
        check_follow_up_time(signed_at=signed, request_at=sent, arrived_at=arrived)
    for signed in (arrived - MAX_TRANSIT - tick, arrived + MAX_SKEW + tick):
        with pytest.raises(BadTime):  # too long in transit; in the future
            check_follow_up_time(signed_at=signed, request_at=sent, arrived_at=arrived)
    with pytest.raises(BadTime):  # before the request it answers, though just sent
        check_follow_up_time(signed_at=sent - tick, request_at=sent, arrived_at=sent)
