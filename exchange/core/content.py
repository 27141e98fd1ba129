"""The contents carried inside envelopes, by message type, strictly validated.

Kinds of request (UNTOC vocabulary): ``information_request``,
``spontaneous_information`` (UNTOC art. 18(4)), ``mla_request`` (formal
mutual legal assistance). Every other message type (the conversation: see
``core.lifecycle.MESSAGE_TYPES``) is threaded to its request by ``in_reply_to``.
A request transferred by its recipient reaches the new holder as a request
with ``transfer``: the original request's ``{origin, msg_id}``.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from .canonical import JsonObject, format_time, parse_time
from .errors import Malformed
from .evidence import ManifestEntry, parse_manifest
from .handling import check_conditions
from .sharing import CASE_TYPES, case_ref
from .sharing import validate as validate_case_message

REQUEST_KINDS = ("information_request", "spontaneous_information", "mla_request")
URGENCIES = ("emergency", "urgent", "standard")
LANGUAGE_RE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
MAX_SUBJECT = 300
MAX_REASON = 4000
# Requests and responses may carry evidence files (exchange.core.evidence); nodes
# apply their own, usually lower, limit from [limits] max_attachment_bytes.
ATTACHABLE = frozenset({"attachments"})
# Issue 16 (core/handling.py): a request carries handling (required), evaluation and
# the sender's reference; a response, final or partial, handling and evaluation; an
# acknowledgement the recipient's reference.
REQUEST_OPTIONAL = frozenset({"reference", "evaluation"})
RESPONSE_OPTIONAL = frozenset({"evaluation"})
MAX_ATTACHMENT_BYTES = 1 << 32


def request_content(
    *,
    kind: str,
    urgency: str,
    language: str,
    subject: str,
    body: str,
    deadline: datetime | None,
    max_body_chars: int,
    conditions: JsonObject | None = None,
) -> JsonObject:
    """``conditions``: ``handling`` and, if given, ``reference`` and ``evaluation``."""
    content = {
        "kind": kind,
        "urgency": urgency,
        "language": language,
        "subject": subject,
        "body": body,
        "deadline": format_time(deadline) if deadline else None,
        **(conditions or {}),
    }
    validate("request", content, max_body_chars=max_body_chars)
    return content


def check_deadline(kind: object, deadline: object) -> None:
    """Spontaneous information (UNTOC art. 18(4)) awaits no answer, so it takes no
    deadline: ``Malformed`` naming ``deadline`` when one is given."""
    if kind == "spontaneous_information" and deadline is not None and deadline != "":
        raise Malformed("deadline: spontaneous information expects no answer")


def follow_up_content(msg_type: str, *, origin: str, msg_id: str, **fields: Any) -> JsonObject:
    return {"in_reply_to": {"origin": origin, "msg_id": msg_id}, **fields}


def validate(msg_type: str, content: JsonObject, *, max_body_chars: int) -> None:
    """Raise ``Malformed`` naming the first field that is not acceptable."""
    if msg_type == "request":
        fields = {"kind", "urgency", "language", "subject", "body", "deadline", "handling"}
        check_conditions(content, handling=True, reference=True)
        _exact(content, fields, ATTACHABLE | REQUEST_OPTIONAL | {"transfer", "case"})
        _choice(content, "kind", REQUEST_KINDS)
        _choice(content, "urgency", URGENCIES)
        _language(content)
        _text(content, "subject", MAX_SUBJECT, allow_empty=False)
        _text(content, "body", max_body_chars, allow_empty=False)
        check_deadline(content["kind"], content["deadline"])
        if content["deadline"] is not None:
            parse_time(content["deadline"], field="deadline")
        if "transfer" in content:
            _message_ref(content, "transfer")
        if "case" in content:  # a shared case's global id (core/sharing.py)
            case_ref(content["case"])
        return
    if msg_type in CASE_TYPES:
        validate_case_message(msg_type, content)
        return
    _reply_to(content)
    if msg_type == "acknowledgement":
        check_conditions(content, handling=False, reference=True)
        _exact(content, {"in_reply_to"}, frozenset({"reference"}))
    elif msg_type in ("response", "partial_response"):
        _response(content, max_body_chars)
    elif msg_type == "rejection":
        _exact(content, {"in_reply_to", "reason"})
        _text(content, "reason", MAX_REASON, allow_empty=False)
    elif msg_type in _CONVERSATION:
        _conversation(msg_type, content, max_body_chars)
    else:
        raise Malformed("unknown message type")


def _response(content: JsonObject, max_body_chars: int) -> None:
    """A response, final or partial: the same fields, its conditions of use included."""
    check_conditions(content, handling=True, reference=False)
    fields = {"in_reply_to", "body", "language", "handling"}
    _exact(content, fields, ATTACHABLE | RESPONSE_OPTIONAL)
    _text(content, "body", max_body_chars, allow_empty=False)
    _language(content)


# The conversation's other types: their fields beside in_reply_to and body.
_CONVERSATION = {
    "clarification_request": {"body"},
    "clarification": {"body"},
    "transfer": {"body", "to"},
    "withdrawal": {"body"},
    "reminder": {"body"},
    "consent_request": {"body", "purpose"},
    "consent": {"body", "about", "granted"},
}
# What a consent request asks: to use the information in other proceedings (UNTOC
# art. 18(19)), or to pass it on to someone else.
CONSENT_PURPOSES = ("use", "disclosure")


def _conversation(msg_type: str, content: JsonObject, max_body_chars: int) -> None:
    _exact(content, {"in_reply_to"} | _CONVERSATION[msg_type])
    # a reminder or a consent may say nothing more; the others say why or what
    _text(content, "body", max_body_chars, allow_empty=msg_type in ("reminder", "consent"))
    if msg_type == "transfer":
        _identifier(content, "to")
    elif msg_type == "consent_request":
        _choice(content, "purpose", CONSENT_PURPOSES)
    elif msg_type == "consent":
        _identifier(content, "about")
        if not isinstance(content["granted"], bool):
            raise Malformed("granted must be true or false")


def _exact(content: JsonObject, fields: set[str], optional: frozenset[str] = frozenset()) -> None:
    if not fields <= set(content) <= fields | optional:
        raise Malformed("content must have exactly the fields " + ", ".join(sorted(fields)))
    if "attachments" in content:
        parse_manifest(content["attachments"], max_size=MAX_ATTACHMENT_BYTES)


def attachments_of(content: JsonObject) -> list[ManifestEntry]:
    """The attachments a message carries (an empty list when it has none)."""
    if "attachments" not in content:
        return []
    return parse_manifest(content["attachments"], max_size=MAX_ATTACHMENT_BYTES)


def _choice(content: JsonObject, name: str, allowed: tuple[str, ...]) -> None:
    if content.get(name) not in allowed:
        raise Malformed(f"{name} must be one of {', '.join(allowed)}")


def _language(content: JsonObject) -> None:
    value = content.get("language")
    if not isinstance(value, str) or len(value) > 35 or not LANGUAGE_RE.match(value):
        raise Malformed("language must be a BCP 47 tag such as 'es' or 'fr-MA'")


def _text(content: JsonObject, name: str, limit: int, *, allow_empty: bool) -> None:
    value = content.get(name)
    if not isinstance(value, str):
        raise Malformed(f"{name} must be text")
    if not allow_empty and not value.strip():
        raise Malformed(f"{name} must not be empty")
    if len(value) > limit:
        raise Malformed(f"{name} is longer than {limit} characters")


def _reply_to(content: JsonObject) -> None:
    _message_ref(content, "in_reply_to")


def _message_ref(content: JsonObject, name: str) -> None:
    ref = content.get(name)
    if (
        not isinstance(ref, dict)
        or set(ref) != {"origin", "msg_id"}
        or not all(isinstance(v, str) and 0 < len(v) <= 64 for v in ref.values())
    ):
        raise Malformed(f"{name} must be {{origin, msg_id}}")


def _identifier(content: JsonObject, name: str) -> None:
    value = content.get(name)
    if not isinstance(value, str) or not 0 < len(value) <= 64:
        raise Malformed(f"{name} must be an identifier")
