"""The pure rules of cases: what a case opened explicitly must state, and when a case
takes a request or closes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from exchange.core.audit_entry import encode_entry
from exchange.core.cases import (
    MAX_STOPS,
    CaseStatus,
    Stop,
    case_fields,
    check_close,
    check_country,
    check_file,
    check_status,
)
from exchange.core.errors import CaseAwaiting, CaseClosed, Malformed

ROUTE = [
    {"country": "SN", "role": "origin"},
    {"country": "MA", "role": "transit"},
    {"country": "ES", "role": "destination"},
]
GOOD: dict[str, Any] = {
    "title": "Cayucos to the Canaries",
    "reference": "DUE-2026/117",
    "offences": ["migrant_smuggling", "document_fraud"],
    "route": ROUTE,
}


def test_a_case_states_title_reference_offences_and_route() -> None:
    fields = case_fields(GOOD)
    assert fields.title == "Cayucos to the Canaries" and fields.reference == "DUE-2026/117"
    assert fields.offences == ("migrant_smuggling", "document_fraud")
    assert fields.route == (Stop("SN", "origin"), Stop("MA", "transit"), Stop("ES", "destination"))
    bare = case_fields({"title": "T", "offences": ["other"]})
    assert bare.reference is None and bare.route == ()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"title": None}, "title"),
        ({"title": ""}, "title"),
        ({"title": "   "}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"title": 7}, "title"),
        ({"title": "a\nb"}, "title"),
        ({"title": "a\ud800b"}, "title"),
        ({"reference": "r" * 101}, "reference"),
        ({"reference": ["r"]}, "reference"),
        ({"offences": []}, "offences"),
        ({"offences": "migrant_smuggling"}, "offences"),
        ({"offences": ["smuggling"]}, "offences"),
        ({"offences": ["other", "other"]}, "offences"),
        ({"route": {"country": "ES"}}, "route"),
        ({"route": [{"country": "ES"}]}, "route"),
        ({"route": [{"country": "es", "role": "origin"}]}, "route country"),
        ({"route": [{"country": "ESP", "role": "origin"}]}, "route country"),
        ({"route": [{"country": "ES", "role": "hub"}]}, "route role"),
        ({"route": [{"country": "ES", "role": "origin", "city": "Almería"}]}, "route"),
        ({"route": [{"country": "ES", "role": "transit"}] * (MAX_STOPS + 1)}, "route"),
        ({"owner": "me"}, "owner"),
    ],
)
def test_bad_fields_are_malformed_naming_the_field(change: dict[str, Any], field: str) -> None:
    with pytest.raises(Malformed) as raised:
        case_fields({**GOOD, **change})
    assert raised.value.message.startswith(field) or field in raised.value.message


def test_limits_are_inclusive() -> None:
    fields = case_fields({**GOOD, "title": "x" * 200, "reference": "r" * 100,
                          "route": [{"country": "ES", "role": "transit"}] * MAX_STOPS})  # fmt: skip
    assert len(fields.route) == MAX_STOPS


def test_a_closed_case_takes_no_request_and_closes_once() -> None:
    check_file(CaseStatus.OPEN)
    with pytest.raises(CaseClosed):
        check_file(CaseStatus.CLOSED)
    with pytest.raises(CaseClosed):
        check_close(CaseStatus.CLOSED, [])


@pytest.mark.parametrize("waiting", ["queued", "delivered", "received", "acknowledged"])
def test_a_case_closes_only_when_no_request_awaits_an_answer(waiting: str) -> None:
    with pytest.raises(CaseAwaiting):
        check_close(CaseStatus.OPEN, ["answered", waiting])
    check_close(CaseStatus.OPEN, ["answered", "rejected", "closed", "expired"])
    check_close(CaseStatus.OPEN, [])


def test_filters_are_checked() -> None:
    assert check_country("SN") == "SN"
    assert check_status("open") is CaseStatus.OPEN
    for bad in ("sn", "SEN", "", "S1"):
        with pytest.raises(Malformed):
            check_country(bad)
    with pytest.raises(Malformed):
        check_status("pending")


@pytest.mark.parametrize("field", ["title", "reference"])
def test_audit_entries_never_hold_a_case_title_or_reference(field: str) -> None:
    with pytest.raises(ValueError, match="never hold contents"):
        encode_entry(
            at=datetime(2026, 12, 1, tzinfo=UTC),
            authority="ES-CNA",
            action="case_opened",
            actor="investigator",
            fields={"case_id": "c", field: "Ndiaye"},
        )
