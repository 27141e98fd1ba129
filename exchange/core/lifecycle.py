"""The request lifecycle as a pure transition function.

Statuses of a request, on both sides:

    draft -> queued -> delivered -> acknowledged -> answered -> closed
                 \\__________\\_____________\\-> rejected (with reason)
    queued -> expired (the sender gave up delivering before any receipt)

The conversation (issue 16): the recipient may ask for additional information
(``awaiting_clarification`` until the requester's clarification puts it back to
``acknowledged``), answer in parts (``partially_answered``, then a final response),
or transfer the request to another authority (``transferred``: final for the
authority that transferred it; on the requester's side the new holder goes on from
there). The requester may withdraw it (``withdrawn``, final) or remind; either party
may ask the other's consent about what it received, and answer such a question.
Who may send which message type in which status is ``check_message``.

Spontaneous information (UNTOC art. 18(4)) is sent without being asked for and
awaits no answer: its recipient may acknowledge it, ask consent about it and
answer a consent request, nothing else (``SPONTANEOUS_MESSAGES``); it takes no
deadline and never keeps a case open (``expects_answer``).

Messages can arrive out of order (a response may overtake a late receipt
after a crash), so progress events move a request forward to the later
status and never back; events that make no sense for the current status
raise ``Conflict``. A peer's follow-up moves only a request we sent to that peer
(``check_follow_up``).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from .errors import BadTime, Conflict, InvalidRequest, RateLimited, WrongParty
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
    AWAITING_CLARIFICATION = "awaiting_clarification"
    PARTIALLY_ANSWERED = "partially_answered"
    TRANSFERRED = "transferred"
    WITHDRAWN = "withdrawn"


class Event(StrEnum):
    QUEUE = "queue"
    DELIVER = "deliver"
    RECEIVE = "receive"
    ACKNOWLEDGE = "acknowledge"
    ANSWER = "answer"
    CLOSE = "close"
    REJECT = "reject"
    EXPIRE = "expire"
    ASK_CLARIFICATION = "ask_clarification"
    CLARIFY = "clarify"
    ANSWER_PART = "answer_part"
    TRANSFER = "transfer"
    WITHDRAW = "withdraw"


class Party(StrEnum):
    """The two sides of a request: who sent it, and who holds it now."""

    REQUESTER = "requester"
    RECIPIENT = "recipient"


_BOTH = frozenset(Party)
_REQUESTER = frozenset({Party.REQUESTER})
_RECIPIENT = frozenset({Party.RECIPIENT})
# Each follow-up message type: who may send it, and the event it is (None: no status
# change). A request itself is no follow-up.
MESSAGE_TYPES: dict[str, tuple[frozenset[Party], Event | None]] = {
    "acknowledgement": (_RECIPIENT, Event.ACKNOWLEDGE),
    "clarification_request": (_RECIPIENT, Event.ASK_CLARIFICATION),
    "clarification": (_REQUESTER, Event.CLARIFY),
    "partial_response": (_RECIPIENT, Event.ANSWER_PART),
    "response": (_RECIPIENT, Event.ANSWER),
    "rejection": (_RECIPIENT, Event.REJECT),
    "transfer": (_RECIPIENT, Event.TRANSFER),
    "withdrawal": (_REQUESTER, Event.WITHDRAW),
    "reminder": (_REQUESTER, None),
    "consent_request": (_BOTH, None),
    "consent": (_BOTH, None),
}
CONSENT_TYPES = frozenset({"consent_request", "consent"})

# Spontaneous information awaits no answer: what may be said about it, by either side
# within ``MESSAGE_TYPES``'s rules; any other type is refused (``InvalidRequest``).
SPONTANEOUS = "spontaneous_information"
SPONTANEOUS_MESSAGES = frozenset({"acknowledgement", "consent_request", "consent"})

_RANK = {
    Status.DRAFT: 0,
    Status.QUEUED: 1,
    Status.DELIVERED: 2,
    Status.RECEIVED: 2,
    Status.TRANSFERRED: 2,
    Status.ACKNOWLEDGED: 3,
    Status.AWAITING_CLARIFICATION: 3,
    Status.PARTIALLY_ANSWERED: 4,
    Status.ANSWERED: 5,
    Status.CLOSED: 6,
}
_TARGET = {
    Event.QUEUE: Status.QUEUED,
    Event.DELIVER: Status.DELIVERED,
    Event.RECEIVE: Status.RECEIVED,
    Event.ACKNOWLEDGE: Status.ACKNOWLEDGED,
    Event.ANSWER: Status.ANSWERED,
    Event.CLOSE: Status.CLOSED,
}
TERMINAL = frozenset({Status.CLOSED, Status.REJECTED, Status.EXPIRED, Status.WITHDRAWN})
# Where the conversation's events may come from (a peer's may overtake the receipt of
# the request, hence queued), and where each one takes the request.
_OPEN = frozenset(
    {
        Status.QUEUED,
        Status.DELIVERED,
        Status.RECEIVED,
        Status.TRANSFERRED,
        Status.ACKNOWLEDGED,
        Status.AWAITING_CLARIFICATION,
        Status.PARTIALLY_ANSWERED,
    }
)
_CONVERSATION: dict[Event, tuple[frozenset[Status], Status]] = {
    Event.ASK_CLARIFICATION: (
        _OPEN - {Status.AWAITING_CLARIFICATION},
        Status.AWAITING_CLARIFICATION,
    ),
    Event.CLARIFY: (frozenset({Status.AWAITING_CLARIFICATION}), Status.ACKNOWLEDGED),
    Event.ANSWER_PART: (_OPEN, Status.PARTIALLY_ANSWERED),
    Event.TRANSFER: (_OPEN - {Status.PARTIALLY_ANSWERED}, Status.TRANSFERRED),
    Event.WITHDRAW: (_OPEN, Status.WITHDRAWN),
}
# A reminder is about a request still waiting for its answer.
_REMINDABLE = _OPEN
REMINDER_INTERVAL = timedelta(hours=1)


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
    if current in (Status.REJECTED, Status.EXPIRED, Status.WITHDRAWN):
        raise Conflict(f"the request is {current}")
    if event in _CONVERSATION:
        allowed, target = _CONVERSATION[event]
        if current not in allowed:
            raise Conflict(f"a request that is {current} cannot take a {event}")
        return target
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


def own_party(direction: str) -> Party:
    """Our side of a request: its requester if we sent it, else its recipient."""
    return Party.REQUESTER if direction == "out" else Party.RECIPIENT


def expects_answer(kind: str) -> bool:
    """Whether a request of ``kind`` awaits an answer (has deadlines, keeps its case
    open): every kind but spontaneous information."""
    return kind != SPONTANEOUS


def check_message(
    msg_type: str, *, party: Party, direction: str, status: Status, kind: str
) -> Event | None:
    """May ``party`` send a ``msg_type`` about a request of ``kind`` that is ``status``
    on the node checking (whose row has ``direction``)? Returns the message's event
    (None: it moves no status); ``WrongParty`` for a type that party never sends,
    ``Conflict`` for one the status does not allow now, ``InvalidRequest`` for an
    unknown type or one spontaneous information never takes."""
    if msg_type not in MESSAGE_TYPES:
        raise InvalidRequest(f"{msg_type!r} is not a message type of a request")
    if not expects_answer(kind) and msg_type not in SPONTANEOUS_MESSAGES:
        raise InvalidRequest(f"spontaneous information expects no answer: no {msg_type}")
    senders, event = MESSAGE_TYPES[msg_type]
    if party not in senders:
        raise WrongParty(f"the {party} of a request cannot send a {msg_type}")
    if status in (Status.DRAFT, Status.EXPIRED):
        raise Conflict(f"the request is {status}")
    if direction == "in" and status is Status.TRANSFERRED and msg_type not in CONSENT_TYPES:
        raise Conflict("the request was transferred to another authority")
    if msg_type == "acknowledgement" and direction == "in" and status is not Status.RECEIVED:
        raise Conflict(f"the request is already {status}")
    if msg_type == "reminder" and status not in _REMINDABLE:
        raise Conflict(f"a request that is {status} needs no reminder")
    if msg_type == "consent_request" and party is Party.REQUESTER and status not in _ANSWERED:
        raise Conflict("the requester asks consent about an answer it received")
    if event is not None:
        transition(status, event)  # raises Conflict when it cannot happen now
    return event


_ANSWERED = frozenset({Status.PARTIALLY_ANSWERED, Status.ANSWERED, Status.CLOSED})


def check_reminder(last: datetime | None, now: datetime) -> None:
    """At most one reminder per request in ``REMINDER_INTERVAL``; ``RateLimited``
    (with when to come back) otherwise."""
    if last is not None and now < last + REMINDER_INTERVAL:
        wait = (last + REMINDER_INTERVAL - now).total_seconds()
        raise RateLimited("a reminder was sent less than an hour ago", retry_after=wait)


def check_consent(*, asked_by: Party | None, answered: bool, party: Party) -> None:
    """A consent answers an open consent request of the other party: ``Conflict`` when
    it names none or one already answered, ``WrongParty`` for one's own question."""
    if asked_by is None:
        raise Conflict("the consent names no consent request of this request")
    if asked_by is party:
        raise WrongParty("a consent answers the other party's consent request")
    if answered:
        raise Conflict("that consent request was already answered")


def check_follow_up(
    *, direction: str, origin: str, counterpart: str, sender: str, me: str
) -> Party:
    """Only the authority we wrote to (or the one it transferred the request to, by a
    signed transfer) may answer, and only the requester may speak for a request we
    received: returns the sender's party, ``WrongParty`` for anyone else. A request we
    received by transfer keeps its requester as origin and counterpart."""
    if counterpart == sender and direction == "out" and origin == me:
        return Party.RECIPIENT
    if counterpart == sender and direction == "in" and origin == sender:
        return Party.REQUESTER
    raise WrongParty("only the parties to a request may follow it up")


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


def allowed_messages(*, party: Party, direction: str, status: Status, kind: str) -> list[str]:
    """The message types ``party`` may send now (what the request page offers), in
    ``MESSAGE_TYPES`` order; a reminder's interval and an open consent request are
    checked when one is sent."""
    allowed = []
    for msg_type in MESSAGE_TYPES:
        try:
            check_message(msg_type, party=party, direction=direction, status=status, kind=kind)
        except (Conflict, WrongParty, InvalidRequest):
            continue
        allowed.append(msg_type)
    return allowed
