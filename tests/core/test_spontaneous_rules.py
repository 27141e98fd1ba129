"""Spontaneous information (UNTOC art. 18(4), issue 16 item 6) awaits no answer: its
recipient may acknowledge it and speak of consent about it, nothing else; it takes no
deadline and never keeps a case open."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from exchange.core.canonical import JsonObject
from exchange.core.content import request_content
from exchange.core.errors import InvalidRequest, Malformed
from exchange.core.lifecycle import (
    Party,
    Status,
    allowed_messages,
    check_message,
    expects_answer,
)

SPONTANEOUS = "spontaneous_information"
R, Q = Party.RECIPIENT, Party.REQUESTER
NEVER = ("response", "partial_response", "clarification_request", "clarification",
         "transfer", "rejection", "withdrawal", "reminder")  # fmt: skip


def test_only_an_acknowledgement_and_consent_are_said_about_it() -> None:
    assert allowed_messages(party=R, direction="in", status=Status.RECEIVED, kind=SPONTANEOUS) == [
        "acknowledgement",
        "consent_request",
        "consent",
    ]
    acknowledged = Status.ACKNOWLEDGED
    assert allowed_messages(party=R, direction="in", status=acknowledged, kind=SPONTANEOUS) == [
        "consent_request",
        "consent",
    ]
    # its sender answers a consent request; it asks none before any answer, as today
    assert allowed_messages(party=Q, direction="out", status=acknowledged, kind=SPONTANEOUS) == [
        "consent"
    ]
    assert (
        check_message(
            "acknowledgement", party=R, direction="out", status=Status.DELIVERED, kind=SPONTANEOUS
        )
        is not None
    )


@pytest.mark.parametrize("msg_type", NEVER)
@pytest.mark.parametrize(("party", "direction"), [(R, "in"), (R, "out"), (Q, "in"), (Q, "out")])
@pytest.mark.parametrize("status", [Status.DELIVERED, Status.RECEIVED, Status.ACKNOWLEDGED])
def test_no_answer_of_any_sort_is_taken(
    msg_type: str, party: Party, direction: str, status: Status
) -> None:
    with pytest.raises(InvalidRequest, match="expects no answer"):
        check_message(msg_type, party=party, direction=direction, status=status, kind=SPONTANEOUS)


@pytest.mark.parametrize("kind", ["information_request", "mla_request"])
def test_a_request_still_takes_its_answers(kind: str) -> None:
    assert expects_answer(kind) and not expects_answer(SPONTANEOUS)
    offered = allowed_messages(party=R, direction="in", status=Status.ACKNOWLEDGED, kind=kind)
    assert {"response", "partial_response", "clarification_request", "transfer"} <= set(offered)


def content(kind: str, deadline: datetime | None) -> JsonObject:
    handling = {"code": "H1", "use_limitation": False, "confidential": False}
    return request_content(
        kind=kind,
        urgency="urgent",
        language="en",
        subject="s",
        body="b",
        deadline=deadline,
        max_body_chars=100,
        conditions={"handling": handling},
    )


def test_no_deadline_is_accepted_on_it() -> None:
    deadline = datetime(2030, 1, 1, tzinfo=UTC)
    with pytest.raises(Malformed, match="deadline: spontaneous information"):
        content(SPONTANEOUS, deadline)
    assert content(SPONTANEOUS, None)["deadline"] is None
    assert content("information_request", deadline)["deadline"]
