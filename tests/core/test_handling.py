"""Conditions of use, evaluation and references (core/handling.py): every code, every
malformed variant refused with ``Malformed`` naming the field."""

from __future__ import annotations

from typing import Any

import pytest

from exchange.core.content import validate
from exchange.core.errors import Malformed
from exchange.core.handling import (
    DEFAULT,
    Evaluation,
    Handling,
    parse_evaluation,
    parse_handling,
    parse_reference,
    request_conditions,
)

FLAGS = {"use_limitation": True, "confidential": False}


@pytest.mark.parametrize("code", ["H0", "H1", "H2"])
def test_each_code_without_text(code: str) -> None:
    assert parse_handling({"code": code, **FLAGS}) == Handling(code, True, False)
    assert parse_handling({"code": code, **FLAGS}).to_json() == {"code": code, **FLAGS}


def test_h3_carries_its_restrictions() -> None:
    value = {"code": "H3", "text": "Only for the Almería court.\nNot to Frontex.", **FLAGS}
    parsed = parse_handling(value)
    assert parsed.text == value["text"]
    assert parsed.to_json() == value


def test_the_default_is_h2_with_both_untoc_flags() -> None:
    assert DEFAULT.to_json() == {"code": "H2", "use_limitation": True, "confidential": True}


@pytest.mark.parametrize(
    ("value", "names"),
    [
        (None, "handling must be an object"),
        ("H2", "handling must be an object"),
        ({"code": "H4", **FLAGS}, "handling.code"),
        ({"code": "h2", **FLAGS}, "handling.code"),
        ({"code": None, **FLAGS}, "handling.code"),
        ({"code": "H2", "use_limitation": True}, "handling.confidential is missing"),
        ({"code": "H2", "confidential": True}, "handling.use_limitation is missing"),
        ({"code": "H2", "use_limitation": 1, "confidential": True}, "handling.use_limitation"),
        ({"code": "H2", "use_limitation": True, "confidential": "yes"}, "handling.confidential"),
        ({"code": "H2", "text": "x", **FLAGS}, "handling.text is not allowed with H2"),
        ({"code": "H0", "text": None, **FLAGS}, "handling.text is not allowed with H0"),
        ({"code": "H2", "extra": 1, **FLAGS}, "handling.extra is not allowed"),
        ({"code": "H3", **FLAGS}, "handling.text is missing (required with H3)"),
        ({"code": "H3", "text": "  ", **FLAGS}, "handling.text must state"),
        ({"code": "H3", "text": 7, **FLAGS}, "handling.text must be text"),
        ({"code": "H3", "text": "x" * 2001, **FLAGS}, "handling.text is longer than 2000"),
        ({"code": "H3", "text": "a\x00b", **FLAGS}, "handling.text must be printable"),
        ({"code": "H3", "text": "a\u202eb", **FLAGS}, "handling.text must be printable"),
    ],
)
def test_malformed_handling_names_the_field(value: Any, names: str) -> None:
    with pytest.raises(Malformed, match=names.replace("(", r"\(").replace(")", r"\)")):
        parse_handling(value)


@pytest.mark.parametrize("source", ["A", "B", "C", "D", "X"])
@pytest.mark.parametrize("information", [1, 2, 3, 4])
def test_every_evaluation(source: str, information: int) -> None:
    value = {"source": source, "information": information}
    assert parse_evaluation(value) == Evaluation(source, information)
    assert parse_evaluation(value).to_json() == value


@pytest.mark.parametrize(
    ("value", "names"),
    [
        (None, "evaluation must be an object"),
        ({"source": "A"}, "evaluation must be an object"),
        ({"source": "A", "information": 1, "x": 0}, "evaluation must be an object"),
        ({"source": "E", "information": 1}, "evaluation.source"),
        ({"source": "a", "information": 1}, "evaluation.source"),
        ({"source": "A", "information": 5}, "evaluation.information"),
        ({"source": "A", "information": 0}, "evaluation.information"),
        ({"source": "A", "information": "1"}, "evaluation.information"),
        ({"source": "A", "information": True}, "evaluation.information"),
        ({"source": "A", "information": 1.0}, "evaluation.information"),
    ],
)
def test_malformed_evaluation_names_the_field(value: Any, names: str) -> None:
    with pytest.raises(Malformed, match=names):
        parse_evaluation(value)


def test_references() -> None:
    assert parse_reference("DGP/UCRIF 2026-0417") == "DGP/UCRIF 2026-0417"
    assert parse_reference("r" * 100) == "r" * 100
    assert parse_reference("Diligencias 12/2026 — Almería") == "Diligencias 12/2026 — Almería"
    for bad, why in [
        ("", "blank"),
        ("   ", "blank"),
        ("r" * 101, "longer than 100"),
        ("a\nb", "printable"),
        ("a\tb", "printable"),
        ("a\x7fb", "printable"),
        ("a\u200fb", "printable"),
        (12, "must be text"),
        (None, "must be text"),
    ]:
        with pytest.raises(Malformed, match=f"reference .*{why}|reference must be {why}"):
            parse_reference(bad)


REQUEST = {
    "kind": "information_request",
    "urgency": "urgent",
    "language": "en",
    "subject": "s",
    "body": "b",
    "deadline": None,
    "handling": {"code": "H1", **FLAGS},
}
REPLY = {"in_reply_to": {"origin": "ES-CNA", "msg_id": "msg-00000001"}}
ANSWER = REPLY | {"body": "b", "language": "en"}


def test_contents_carry_the_fields_where_they_belong() -> None:
    validate("request", REQUEST, max_body_chars=100)
    full = REQUEST | {"reference": "ES-1", "evaluation": {"source": "B", "information": 2}}
    validate("request", full, max_body_chars=100)
    validate("acknowledgement", REPLY, max_body_chars=100)
    validate("acknowledgement", REPLY | {"reference": "MA-7"}, max_body_chars=100)
    response = REPLY | {"body": "b", "language": "en", "handling": {"code": "H0", **FLAGS}}
    validate("response", response, max_body_chars=100)
    graded = response | {"evaluation": {"source": "X", "information": 4}}
    validate("response", graded, max_body_chars=100)


@pytest.mark.parametrize(
    ("msg_type", "content", "names"),
    [
        ("request", {k: v for k, v in REQUEST.items() if k != "handling"}, "handling is missing"),
        ("request", REQUEST | {"handling": {"code": "H9", **FLAGS}}, "handling.code"),
        ("request", REQUEST | {"reference": "a\x00"}, "reference must be printable"),
        ("request", REQUEST | {"evaluation": {"source": "Z", "information": 1}}, "source"),
        ("acknowledgement", REPLY | {"reference": ""}, "reference must not be blank"),
        ("acknowledgement", REPLY | {"handling": REQUEST["handling"]}, "exactly the fields"),
        ("response", ANSWER, "handling is missing"),
        ("response", ANSWER | {"handling": {}}, "handling.code"),
        ("response", ANSWER | {"handling": REQUEST["handling"], "reference": "x"}, "exactly"),
        ("rejection", REPLY | {"reason": "r", "handling": REQUEST["handling"]}, "exactly"),
    ],
)  # fmt: skip
def test_contents_refuse_misplaced_or_malformed_fields(
    msg_type: str, content: Any, names: str
) -> None:
    with pytest.raises(Malformed, match=names):
        validate(msg_type, content, max_body_chars=100)


def test_request_conditions_from_the_messages() -> None:
    shown = request_conditions(
        [
            ("request", REQUEST | {"reference": "ES-1"}),
            ("acknowledgement", REPLY | {"reference": "MA-7"}),
            ("response", REPLY | {"handling": {"code": "H0", **FLAGS}}),
        ]
    )
    assert shown == {
        "sender_reference": "ES-1",
        "recipient_reference": "MA-7",
        "handling": REQUEST["handling"],
        "evaluation": None,
    }
    assert request_conditions([("request", {"erased": True})])["handling"] is None
