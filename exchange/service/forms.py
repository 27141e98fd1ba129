"""A request as its author wrote it, before its deadline is computed and it is sealed:
what the API's body and the compose page's form both become, and what a draft keeps."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

from ..core import content as contents
from ..core.canonical import JsonObject, parse_time
from ..core.errors import Malformed
from ..core.handling import (
    DEFAULT,
    Evaluation,
    Handling,
    parse_evaluation,
    parse_handling,
    parse_reference,
)
from .node import Node

TEXT_FIELDS = ("to", "kind", "urgency", "subject", "body", "language")
MAX_RECIPIENTS = 20  # one request to every country along a route, and then some


def recipients_of(value: object) -> tuple[str, ...]:
    """``to`` as a list (issue 16, several recipients): 1 to ``MAX_RECIPIENTS`` distinct
    authority ids. Whether each is a peer of the directory is ``Node.peer``'s to say."""
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise Malformed("to must be an authority id or a list of authority ids")
    if not 0 < len(value) <= MAX_RECIPIENTS:
        raise Malformed(f"to must list 1 to {MAX_RECIPIENTS} authorities")
    if len(set(value)) != len(value):
        raise Malformed("to must not name an authority twice")
    return tuple(value)


@dataclass(frozen=True)
class RequestForm:
    to: str
    kind: str
    urgency: str
    subject: str
    body: str
    language: str
    deadline: str | None = None  # RFC 3339 UTC: the latest answer wanted, if earlier
    attachments: tuple[str, ...] = ()  # ids of the author's own uploads not sent yet
    case_id: str | None = None  # the author's open case to file it in; None: a new case
    # issue 16: the sender's file number and the conditions of use (core/handling.py);
    # a form that names no handling gets the strict default
    reference: str | None = None
    handling: Handling = DEFAULT
    evaluation: Evaluation | None = None

    @classmethod
    def of(cls, fields: Mapping[str, object]) -> RequestForm:
        """From a JSON body or a saved draft: every text field a string, the deadline a
        string or absent, the attachments a list of ids; nothing else."""
        unknown = set(fields) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise Malformed(f"unknown field(s): {', '.join(sorted(unknown))}")
        missing = [name for name in TEXT_FIELDS if name not in fields]
        if missing:
            raise Malformed(f"missing field(s): {', '.join(missing)}")
        if isinstance(fields["to"], list):  # several recipients make several requests
            raise Malformed("a draft has one recipient: send to several with POST /api/requests")
        for name in TEXT_FIELDS:
            if not isinstance(fields[name], str):
                raise Malformed(f"{name} must be a string")
        deadline = fields.get("deadline")
        if deadline is not None and not isinstance(deadline, str):
            raise Malformed("deadline must be a string")
        case_id = fields.get("case_id")
        if case_id is not None and not isinstance(case_id, str):
            raise Malformed("case_id must be a string")
        attachments = fields.get("attachments", [])
        if not isinstance(attachments, list) or not all(isinstance(a, str) for a in attachments):
            raise Malformed("attachments must be a list of attachment ids")
        text = {name: str(fields[name]) for name in TEXT_FIELDS}
        # absent: none (handling: the default); present, even null: checked
        return cls(
            **text,
            deadline=deadline or None,
            attachments=tuple(attachments),
            reference=parse_reference(fields["reference"]) if "reference" in fields else None,
            handling=parse_handling(fields["handling"]) if "handling" in fields else DEFAULT,
            evaluation=(parse_evaluation(fields["evaluation"]) if "evaluation" in fields else None),
            case_id=case_id or None,
        )

    def conditions(self) -> JsonObject:
        """The content fields of issue 16: handling, and reference and evaluation if set."""
        shown: JsonObject = {"handling": self.handling.to_json()}
        if self.reference is not None:
            shown["reference"] = self.reference
        if self.evaluation is not None:
            shown["evaluation"] = self.evaluation.to_json()
        return shown

    def check(self, node: Node) -> None:
        """Refuse now what sealing would refuse: an unknown recipient, a bad field."""
        node.peer(self.to)
        contents.request_content(
            kind=self.kind,
            urgency=self.urgency,
            language=self.language,
            subject=self.subject,
            body=self.body,
            deadline=None,
            max_body_chars=node.config.limits.max_body_chars,
            conditions=self.conditions(),
        )
        contents.check_deadline(self.kind, self.deadline)
        if self.deadline:
            parse_time(self.deadline, field="deadline")

    def to_json(self) -> JsonObject:
        shown = {name: getattr(self, name) for name in (*TEXT_FIELDS, "deadline")}
        found = {**shown, "attachments": list(self.attachments), **self.conditions()}
        return found if self.case_id is None else {**found, "case_id": self.case_id}
