"""Canonical bytes of one audit-log entry.

An entry holds metadata and hashes only, never request contents, so that
auditors can read every entry. The bytes are RFC 8785 canonical JSON; the
Merkle leaf is computed over exactly these bytes.
"""

from __future__ import annotations

from datetime import datetime

from .canonical import JsonObject, canonical_json, format_time, loads_object
from .errors import Malformed

ACTIONS = frozenset(
    {
        "request_created",
        "request_queued",
        "request_sent",
        "request_delivered",
        "delivery_failed",
        "delivery_refused",
        "request_received",
        "request_opened",
        "request_acknowledged",
        "request_answered",
        "request_rejected",
        "request_closed",
        "request_expired",
        "message_received",
        "message_rejected",
        "deadline_escalated",
        "directory_updated",
        "directory_rejected",
        "directory_equivocation",
        "key_rotated",
        "key_revoked",
        "key_deleted",
        "revocation_sent",
        "revocation_received",
        "user_added",
        "user_removed",
        "login_succeeded",
        "login_failed",
        "settings_changed",
        "node_initialised",
        "witness_alert",
        "witness_alert_received",
        "attachment_uploaded",
        "attachment_opened",
        "content_erased",
        "blobs_collected",
        "request_drafted",
        "draft_updated",
        "draft_discarded",
        "case_opened",
        "case_viewed",
        "case_closed",
        "case_erased",
        # sharing a case (store/sharing.py)
        "case_member_invited",
        "case_invitation_accepted",
        "case_invitation_declined",
        "case_membership_sent",
        "case_invitation_received",
        "case_acceptance_received",
        "case_membership_received",
        "case_left",
        "case_member_removed",
        "case_departure_received",
        "case_message_delivered",
        "clarification_requested",
        "clarification_given",
        "request_partially_answered",
        "request_transferred",
        "request_withdrawn",
        "reminder_sent",
        "consent_requested",
        "consent_answered",
    }
)
# Field names that may never appear in an entry: contents stay out of the log.
FORBIDDEN_FIELDS = frozenset(
    {"body", "subject", "content", "password", "attachments", "reason_text", "filename", "key",
     "title", "reference"}  # a case's title and reference may name people
)  # fmt: skip


def encode_entry(
    *, at: datetime, authority: str, action: str, actor: str, fields: JsonObject
) -> bytes:
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    leaked = FORBIDDEN_FIELDS & fields.keys()
    if leaked:
        raise ValueError(f"audit entries never hold contents: {sorted(leaked)}")
    reserved = {"v", "at", "authority", "action", "actor"} & fields.keys()
    if reserved:
        raise ValueError(f"reserved audit fields: {sorted(reserved)}")
    return canonical_json(
        {"v": 1, "at": format_time(at), "authority": authority, "action": action, "actor": actor}
        | fields
    )


def decode_entry(data: bytes) -> JsonObject:
    entry = loads_object(data)
    if entry.get("v") != 1 or entry.get("action") not in ACTIONS:
        raise Malformed("not an audit entry")
    return entry
