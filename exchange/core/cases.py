"""Cases: what groups the requests of one investigation, and the rules that move them.

A case has a title and the investigator's national reference (both may name people,
so the store keeps them sealed at rest), the offences it concerns (a fixed vocabulary,
after UNTOC and its protocols) and the route (ordered stops: a country and its role on
the route). Every request that leaves draft status belongs to one case; a case opened
without a title is an *implicit* case, opened by its first request.

A case closes only when none of its requests still awaits an answer; a closed case
takes no new request. Pure rules: plain values in, a value or an ``ExchangeError`` out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from .errors import CaseAwaiting, CaseClosed, Malformed

OFFENCES = (
    "migrant_smuggling",
    "trafficking_in_persons",
    "document_fraud",
    "money_laundering",
    "organised_crime",
    "corruption",
    "other",
)
ROUTE_ROLES = ("origin", "transit", "destination")
MAX_TITLE = 200
MAX_REFERENCE = 100
MAX_STOPS = 20
FIELDS = frozenset({"title", "reference", "offences", "route"})
_COUNTRY = re.compile(r"[A-Z]{2}")  # ISO 3166-1 alpha-2, as directory entries carry it
# Request statuses that still await an answer (ours or the peer's): such a request
# keeps its case open, unless it is of a kind that awaits none (spontaneous
# information: ``core.lifecycle.expects_answer``), which callers leave out.
AWAITING = frozenset({"queued", "delivered", "received", "acknowledged"})


class CaseStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


@dataclass(frozen=True)
class Stop:
    """One stop of a route: a country and its role (origin, transit, destination)."""

    country: str
    role: str

    def to_json(self) -> dict[str, str]:
        return {"country": self.country, "role": self.role}


@dataclass(frozen=True)
class CaseFields:
    """What the investigator states about a case. ``title`` is None only for an
    implicit case."""

    title: str | None
    reference: str | None
    offences: tuple[str, ...]
    route: tuple[Stop, ...]


IMPLICIT = CaseFields(title=None, reference=None, offences=(), route=())


def case_fields(body: Mapping[str, object]) -> CaseFields:
    """A case opened explicitly, from its JSON body: ``Malformed`` naming the field."""
    unknown = set(body) - FIELDS
    if unknown:
        raise Malformed(f"unknown field(s): {', '.join(sorted(unknown))}")
    return CaseFields(
        title=_text(body.get("title"), "title", MAX_TITLE, required=True),
        reference=_text(body.get("reference"), "reference", MAX_REFERENCE, required=False),
        offences=offences_of(body.get("offences")),
        route=route_of(body.get("route", [])),
    )


def _text(value: object, name: str, limit: int, *, required: bool) -> str | None:
    if value is None or value == "":
        if required:
            raise Malformed(f"{name} is required")
        return None
    if not isinstance(value, str):
        raise Malformed(f"{name} must be a string")
    text = value.strip()
    if not text and required:
        raise Malformed(f"{name} is required")
    if len(text) > limit:
        raise Malformed(f"{name} must be at most {limit} characters")
    if any(ord(c) < 0x20 or ord(c) == 0x7F or 0xD800 <= ord(c) <= 0xDFFF for c in text):
        raise Malformed(f"{name} must not hold control characters or lone surrogates")
    return text or None


def offences_of(value: object) -> tuple[str, ...]:
    """At least one offence, each from ``OFFENCES``, each once."""
    if not isinstance(value, list) or not value:
        raise Malformed("offences must be a non-empty list")
    if not all(isinstance(v, str) and v in OFFENCES for v in value):
        raise Malformed(f"offences must be among {', '.join(OFFENCES)}")
    if len(set(value)) != len(value):
        raise Malformed("offences must not repeat")
    return tuple(str(v) for v in value)


def route_of(value: object) -> tuple[Stop, ...]:
    """An ordered list of at most ``MAX_STOPS`` stops ``{country, role}``."""
    if not isinstance(value, list):
        raise Malformed("route must be a list of stops")
    if len(value) > MAX_STOPS:
        raise Malformed(f"route must have at most {MAX_STOPS} stops")
    stops = []
    for stop in value:
        if not isinstance(stop, dict) or set(stop) != {"country", "role"}:
            raise Malformed("route stops must be {country, role}")
        country, role = stop["country"], stop["role"]
        if not isinstance(country, str) or not _COUNTRY.fullmatch(country):
            raise Malformed("route country must be an ISO 3166-1 alpha-2 code")
        if role not in ROUTE_ROLES:
            raise Malformed(f"route role must be one of {', '.join(ROUTE_ROLES)}")
        stops.append(Stop(country, str(role)))
    return tuple(stops)


def check_country(value: str) -> str:
    """A country filter: an ISO 3166-1 alpha-2 code."""
    if not _COUNTRY.fullmatch(value):
        raise Malformed("country must be an ISO 3166-1 alpha-2 code")
    return value


def check_status(value: str) -> CaseStatus:
    try:
        return CaseStatus(value)
    except ValueError:
        raise Malformed("status must be 'open' or 'closed'") from None


def check_file(status: CaseStatus) -> None:
    """A request may be filed in an open case only."""
    if status is CaseStatus.CLOSED:
        raise CaseClosed("the case is closed")


def check_close(status: CaseStatus, request_statuses: Iterable[str]) -> None:
    """A case closes once, and only when none of its requests still awaits an answer."""
    if status is CaseStatus.CLOSED:
        raise CaseClosed("the case is closed already")
    if any(s in AWAITING for s in request_statuses):
        raise CaseAwaiting("a request of the case still awaits an answer")
