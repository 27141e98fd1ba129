"""The request lifecycle as a pure transition function.

Statuses of a request, on both sides:

    draft -> queued -> delivered -> acknowledged -> answered -> closed
                 \\__________\\_____________\\-> rejected (with reason)
    queued -> expired (the sender gave up delivering before any receipt)

Messages can arrive out of order (a response may overtake a late receipt
after a crash), so progress events move a request forward to the later
status and never back; events that make no sense for the current status
raise ``Conflict``. A peer's follow-up moves only a request we sent to that peer
(``check_follow_up``).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from .errors import BadTime, Conflict, InvalidRequest, WrongParty
from .peer_auth import MAX_SKEW, MAX_TRANSIT


class Status(StrEnum):
    DRAFT = "draft"
    QUEUED = "queued"
    DELIVERED = "delivered"
    RECEIVED = "received"
    ACKNOWLEDGED = "acknowledged"
    ANSWERED = "answered"
    CLOSED = "closed"
    REJECTED = "rejected"
    EXPIRED = "expired"


class Event(StrEnum):
    QUEUE = "queue"
    DELIVER = "deliver"
    RECEIVE = "receive"
    ACKNOWLEDGE = "acknowledge"
    ANSWER = "answer"
    CLOSE = "close"
    REJECT = "reject"
    EXPIRE = "expire"


_RANK = {
    Status.DRAFT: 0,
    Status.QUEUED: 1,
    Status.DELIVERED: 2,
    Status.RECEIVED: 2,
    Status.ACKNOWLEDGED: 3,
    Status.ANSWERED: 4,
    Status.CLOSED: 5,
}
_TARGET = {
    Event.QUEUE: Status.QUEUED,
    Event.DELIVER: Status.DELIVERED,
    Event.RECEIVE: Status.RECEIVED,
    Event.ACKNOWLEDGE: Status.ACKNOWLEDGED,
    Event.ANSWER: Status.ANSWERED,
    Event.CLOSE: Status.CLOSED,
}
TERMINAL = frozenset({Status.CLOSED, Status.REJECTED, Status.EXPIRED})


def transition(current: Status, event: Event) -> Status:
    """The status after ``event``; raises ``Conflict`` when it cannot happen now."""
    if event is Event.REJECT:
        if current in TERMINAL or current is Status.ANSWERED:
            raise Conflict(f"a request that is {current} cannot be rejected")
        return Status.REJECTED
    if event is Event.EXPIRE:
        if current is not Status.QUEUED:
            raise Conflict(f"a request that is {current} cannot expire")
        return Status.EXPIRED
    if current in (Status.REJECTED, Status.EXPIRED):
        raise Conflict(f"the request is {current}")
    if current is Status.CLOSED and event is not Event.DELIVER:
        raise Conflict("the request is closed")
    target = _TARGET[event]
    if event is Event.CLOSE and current is not Status.ANSWERED:
        raise Conflict(f"only answered requests can be closed; this one is {current}")
    return target if _RANK[target] > _RANK[current] else current


def check_draft(current: Status) -> None:
    """Only a draft is edited, sent or discarded: nothing has left the node yet."""
    if current is not Status.DRAFT:
        raise InvalidRequest(f"the request is already {current}: only a draft can change")


def check_reply(direction: str, current: Status, event: Event) -> None:
    """Our own acknowledgement, response or rejection: only of a request we received,
    and an acknowledgement only while nothing else has happened to it."""
    if direction != "in":
        raise InvalidRequest("only received requests can be acknowledged, answered or rejected")
    if event is Event.ACKNOWLEDGE and current is not Status.RECEIVED:
        raise Conflict(f"the request is already {current}")


def check_follow_up(*, direction: str, origin: str, counterpart: str, sender: str, me: str) -> None:
    """Only the authority we wrote to may answer: a peer's acknowledgement, response or
    rejection is accepted on a request this node sent (direction ``out``, origin ``me``)
    to that peer (``counterpart == sender``); ``WrongParty`` otherwise."""
    if direction != "out" or origin != me or counterpart != sender:
        raise WrongParty(
            "only the authority a request was sent to may acknowledge, answer or reject it"
        )


def check_follow_up_time(
    *, signed_at: datetime, request_at: datetime, arrived_at: datetime
) -> None:
    """A peer's follow-up carries a time we can keep beside our own: not before the
    request it answers (``request_at``, the time we signed it), not more than
    ``MAX_TRANSIT`` before it reached us, not more than ``MAX_SKEW`` after; ``BadTime``
    otherwise. Deadlines count from ``arrived_at`` whatever the peer signed."""
    if signed_at < request_at:
        raise BadTime("the follow-up is timed before the request it answers")
    if signed_at < arrived_at - MAX_TRANSIT:
        raise BadTime("the follow-up is timed too long before it arrived")
    if signed_at > arrived_at + MAX_SKEW:
        raise BadTime("the follow-up is timed in the future")
