"""Conditions of use, evaluation and file references, as a message's signed content
carries them (issue 16, items 3 and 4; docs/PROTOCOL.md, "Contents").

* ``handling``: Europol's handling codes, with the UNTOC flags. H0: no restriction;
  H1: not to be used as evidence in judicial proceedings without the provider's
  permission; H2: not to be disseminated further without permission; H3: other
  restrictions, stated in ``text``. ``use_limitation``: UNTOC art. 18(19), use only for
  the proceedings stated in the request; ``confidential``: art. 18(20).
* ``evaluation``: the 4x4 scheme, the source's reliability (A-D, X: cannot be judged)
  and the information's (1-4).
* ``reference``: a file number of the sender (a request) or of the recipient (its
  acknowledgement): printable text, no control characters.

A code is the sender's promise, shown to the receiver: no node can enforce what a person
does with what they read (docs/THREAT_MODEL.md).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from .canonical import JsonObject
from .errors import Malformed

CODES = ("H0", "H1", "H2", "H3")
SOURCES = ("A", "B", "C", "D", "X")
INFORMATION = (1, 2, 3, 4)
MAX_REFERENCE = 100
MAX_HANDLING_TEXT = 2000
_HANDLING_FIELDS = {"code", "use_limitation", "confidential"}


@dataclass(frozen=True)
class Handling:
    """A message's conditions of use."""

    code: str
    use_limitation: bool
    confidential: bool
    text: str | None = None  # the restrictions of H3; None for every other code

    def to_json(self) -> JsonObject:
        shown: JsonObject = {
            "code": self.code,
            "use_limitation": self.use_limitation,
            "confidential": self.confidential,
        }
        return shown | ({"text": self.text} if self.text is not None else {})


# What a request gets when its author names no conditions (the API without "handling";
# the compose page preselects the same): the strict side, docs/THREAT_MODEL.md.
DEFAULT = Handling("H2", use_limitation=True, confidential=True)


@dataclass(frozen=True)
class Evaluation:
    """How reliable the source (A-D, X) and the information (1-4) are."""

    source: str
    information: int

    def to_json(self) -> JsonObject:
        return {"source": self.source, "information": self.information}


def parse_handling(value: object, *, field: str = "handling") -> Handling:
    """A ``handling`` object, exactly; ``Malformed`` naming the field otherwise."""
    if not isinstance(value, dict):
        raise Malformed(f"{field} must be an object {{code, use_limitation, confidential}}")
    code = value.get("code")
    if code not in CODES:
        raise Malformed(f"{field}.code must be one of {', '.join(CODES)}")
    wanted = _HANDLING_FIELDS | ({"text"} if code == "H3" else set())
    if set(value) != wanted:
        extra = sorted(set(value) - wanted)
        name = extra[0] if extra else sorted(wanted - set(value))[0]
        raise Malformed(
            f"{field}.{name} is not allowed with {code}"
            if extra
            else f"{field}.{name} is missing (required with {code})"
        )
    for flag in ("use_limitation", "confidential"):
        if not isinstance(value[flag], bool):
            raise Malformed(f"{field}.{flag} must be true or false")
    text = None
    if code == "H3":
        text = _printable(value["text"], f"{field}.text", MAX_HANDLING_TEXT, newlines=True)
        if not text.strip():
            raise Malformed(f"{field}.text must state the restrictions of H3")
    return Handling(code, value["use_limitation"], value["confidential"], text)


def parse_evaluation(value: object, *, field: str = "evaluation") -> Evaluation:
    """An ``evaluation`` object, exactly; ``Malformed`` naming the field otherwise."""
    if not isinstance(value, dict) or set(value) != {"source", "information"}:
        raise Malformed(f"{field} must be an object {{source, information}}")
    if value["source"] not in SOURCES:
        raise Malformed(f"{field}.source must be one of {', '.join(SOURCES)}")
    information = value["information"]
    # exactly an int: true is not the grade 1, nor 1.0 (canonical JSON has no floats)
    if type(information) is not int or information not in INFORMATION:
        raise Malformed(f"{field}.information must be one of 1, 2, 3, 4")
    return Evaluation(value["source"], information)


def parse_reference(value: object, *, field: str = "reference") -> str:
    """A file reference: 1-100 characters of printable text, no control characters."""
    text = _printable(value, field, MAX_REFERENCE, newlines=False)
    if not text.strip():
        raise Malformed(f"{field} must not be blank")
    return text


def _printable(value: object, field: str, limit: int, *, newlines: bool) -> str:
    if not isinstance(value, str):
        raise Malformed(f"{field} must be text")
    if len(value) > limit:
        raise Malformed(f"{field} is longer than {limit} characters")
    allowed = "\n" if newlines else ""
    # C*: control, format (bidi overrides), surrogates, private use, unassigned
    if any(unicodedata.category(c).startswith("C") and c not in allowed for c in value):
        raise Malformed(f"{field} must be printable text, without control characters")
    return value


def check_conditions(content: JsonObject, *, handling: bool, reference: bool) -> None:
    """The fields of this module a content carries: ``handling`` (required if asked),
    ``evaluation`` (optional where handling is), ``reference`` (optional)."""
    if handling:
        if "handling" not in content:
            raise Malformed("handling is missing")
        parse_handling(content["handling"])
        if "evaluation" in content:
            parse_evaluation(content["evaluation"])
    if reference and "reference" in content:
        parse_reference(content["reference"])


def handling_of(content: JsonObject) -> Handling | None:
    """A stored content's conditions (None before they existed, or erased)."""
    value = content.get("handling")
    return parse_handling(value) if value is not None else None


def evaluation_of(content: JsonObject) -> Evaluation | None:
    value = content.get("evaluation")
    return parse_evaluation(value) if value is not None else None


def request_conditions(contents: list[tuple[str, JsonObject]]) -> JsonObject:
    """What a request's lists and page show of issue 16, from its messages' contents
    (type, content) in order: the sender's reference, handling and evaluation (the
    request's), and the recipient's reference (its acknowledgement's). None where a
    message is missing, predates these fields or was erased."""
    shown: JsonObject = dict.fromkeys(
        ("sender_reference", "recipient_reference", "handling", "evaluation")
    )
    for msg_type, content in contents:
        if msg_type == "request":
            shown["sender_reference"] = content.get("reference")
            shown["handling"] = content.get("handling")
            shown["evaluation"] = content.get("evaluation")
        elif msg_type == "acknowledgement" and content.get("reference") is not None:
            shown["recipient_reference"] = content["reference"]
    return shown


MEANINGS = {
    "H0": "no restriction",
    "H1": "not to be used as evidence in judicial proceedings without the provider's permission",
    "H2": "not to be disseminated further without the provider's permission",
    "H3": "other restrictions, stated by the provider",
}


def describe(handling: Handling, evaluation: Evaluation | None = None) -> str:
    """The conditions in plain English, for the evidence bundle's verification report
    (the UI says the same in the reader's language: web/ui/strings.py)."""
    parts = [f"{handling.code}: {MEANINGS[handling.code]}"]
    if handling.text is not None:
        parts.append(f"restrictions stated: {handling.text!r}")
    if handling.use_limitation:
        parts.append(
            "to be used only for the proceedings stated in the request (UNTOC art. 18(19))"
        )
    if handling.confidential:
        parts.append("confidential (UNTOC art. 18(20))")
    if evaluation is not None:
        parts.append(
            f"evaluation: source {evaluation.source}, information {evaluation.information}"
        )
    return "; ".join(parts)
