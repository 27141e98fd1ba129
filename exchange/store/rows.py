"""Typed rows of the request tables, as the store hands them out."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..core.canonical import JsonObject, canonical_json, sha256_hex
from ..core.lifecycle import Status


@dataclass(frozen=True)
class RequestRow:
    """One row of ``requests``: a request's metadata (never its contents)."""

    id: str
    origin: str
    msg_id: str
    direction: str  # "out": we sent it; "in": a peer sent it to us
    counterpart: str
    kind: str
    urgency: str
    language: str
    status: Status
    created_by: str | None
    created_at: str
    updated_at: str
    deadline: str | None
    delivered_at: str | None
    acknowledged_at: str | None
    answered_at: str | None
    closed_at: str | None
    rejected_at: str | None
    deadline_state: str | None
    deadline_check_at: str | None
    erased_at: str | None
    case_id: str | None = None  # None: a draft (filed in a case when it is sent)
    group_id: str | None = None  # the requests created together for several recipients
    # issue 16, from the messages' encrypted contents (never columns): set by the
    # service that shows the row (core/handling.request_conditions)
    sender_reference: str | None = None
    recipient_reference: str | None = None
    handling: JsonObject | None = None
    evaluation: JsonObject | None = None

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> RequestRow:
        values = {f.name: row[f.name] for f in dataclasses.fields(cls) if f.name in _COLUMNS}
        values["status"] = Status(values["status"])
        return cls(**values)

    def to_json(self) -> dict[str, object]:
        # a shallow copy: dataclasses.asdict deep-copies every value (with the live
        # deadline state's copy, 40 % of a list page's CPU); nothing here is mutated
        return {name: getattr(self, name) for name in _FIELDS}


_FIELDS = [f.name for f in dataclasses.fields(RequestRow)]
_FROM_CONTENTS = ("sender_reference", "recipient_reference", "handling", "evaluation")
_COLUMNS = [f.name for f in dataclasses.fields(RequestRow) if f.name not in _FROM_CONTENTS]
REQUEST_COLUMNS = ", ".join(_COLUMNS)


@dataclass(frozen=True)
class TimelineEvent:
    at: str
    event: str
    actor: str | None
    detail: dict[str, object]

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> TimelineEvent:
        return cls(row["at"], row["event"], row["actor"], json.loads(row["detail"]))

    def to_json(self) -> dict[str, object]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class MessageView:
    """A message of a request with its decrypted content (callers check the role)."""

    msg_id: str
    type: str
    sender: str
    recipient: str
    created_at: str
    envelope_sha256: str
    content: JsonObject  # the sealed content: free-form JSON of its type
    receipt: JsonObject | None  # the signed receipt, as JSON
    # when a peer's message reached this node (the received_at of the receipt we signed):
    # the time its deadline counts from; None for our own messages
    received_at: str | None = None
    # what users see of its attachments (never their keys); set when it is shown
    attachments: list[dict[str, object]] = dataclasses.field(default_factory=list)

    @property
    def receipt_sha256(self) -> str:
        """The hash of the receipt's exact signed bytes (what the audit log names)."""
        return sha256_hex(canonical_json(self.receipt)) if self.receipt else ""

    def to_json(self) -> dict[str, object]:
        return dataclasses.asdict(self)
