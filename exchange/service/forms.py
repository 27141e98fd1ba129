"""A request as its author wrote it, before its deadline is computed and it is sealed:
what the API's body and the compose page's form both become, and what a draft keeps."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

from ..core import content as contents
from ..core.canonical import JsonObject, parse_time
from ..core.errors import Malformed
from .node import Node

TEXT_FIELDS = ("to", "kind", "urgency", "subject", "body", "language")


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
        return cls(
            **text,
            deadline=deadline or None,
            attachments=tuple(attachments),
            case_id=case_id or None,
        )

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
        )
        if self.deadline:
            parse_time(self.deadline, field="deadline")

    def to_json(self) -> JsonObject:
        shown: JsonObject = {**dataclasses.asdict(self), "attachments": list(self.attachments)}
        if self.case_id is None:
            del shown["case_id"]
        return shown
