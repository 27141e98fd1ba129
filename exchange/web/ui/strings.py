"""Every string the UI shows, in one place per language.

Templates call ``t("key")``; a missing key is an error in tests, never a
silent blank. English, French, Spanish and Arabic (right to left) are here; the
other tables live in ``locales/``. To add a language, copy ``EN`` there under its
BCP 47 tag, register it in ``STRINGS``, ``DIRECTION`` and ``NAMES``. Messages that
come from the core (errors) stay in English.
"""

from __future__ import annotations

from collections.abc import Callable

from ...core.deadlines import SPAN_EN
from .locales.conditions import CONDITIONS
from .locales.membership import MEMBERSHIP
from .locales.recipients import RECIPIENTS
from .locales.search import SEARCH
from .locales.sharing import SHARING
from .locales.spontaneous import SPONTANEOUS

EN: dict[str, str] = {
    "app_name": "Exchange",
    "skip_to_content": "Skip to content",
    "nav_requests": "My requests",
    "nav_compose": "New request",
    "nav_directory": "Directory",
    "nav_inbox": "Inbox",
    "nav_board": "Tracking board",
    "nav_deadlines": "Deadlines",
    "nav_alerts": "Alerts",
    "nav_stats": "Statistics",
    "nav_audit": "Audit log",
    "nav_admin": "Administration",
    "logout": "Log out",
    "signed_in_as": "Signed in as",
    "login_title": "Log in",
    "username": "Username",
    "password": "Password",
    "login_button": "Log in",
    "login_failed": "Wrong username or password.",
    "session_expired": "Your session has ended. Please log in again.",
    "forbidden_title": "Not allowed",
    "forbidden_text": "Your role does not allow this page or action.",
    "error_title": "Something was refused",
    "not_found_title": "Not found",
    "back": "Back",
    "search": "Search",
    "search_text": "Name or words",
    "country": "Country (ISO code)",
    "kind": "Kind",
    "any": "Any",
    "language": "Language",
    "languages": "Accepted languages",
    "legal_requirements": "Legal requirements",
    "urgent_procedure": "Urgent cases",
    "promised_response": "Promises an urgent answer within {hours} h",
    "contact_hours": "Contact hours",
    "local_time_now": "Local time now",
    "write_request": "Write a request",
    "no_results": "Nothing found.",
    "compose_title": "New request",
    "to": "To",
    "request_kind": "Kind of request",
    "urgency": "Urgency",
    "subject": "Subject",
    "body": "Request",
    "own_deadline": "Your own deadline (optional, UTC)",
    "own_deadline_hint": "Only an earlier deadline than the default for the urgency is used.",
    "attachments": "Attachments",
    "attachments_hint": "Evidence files, up to {size} MB each: encrypted for the recipient only.",
    "send": "Seal and send",
    "save_draft": "Save as draft",
    "draft": "Draft",
    "draft_notice": "Draft: saved on this node only, encrypted at rest; not sent yet.",
    "editing_draft": "You are editing a draft: save it again, or send it.",
    "edit_draft": "Edit",
    "discard_draft": "Discard draft",
    "language_warning": (
        "{authority} does not list {language} among its accepted languages ({accepted}). "
        "Send anyway?"
    ),
    "send_anyway": "Yes, send in this language",
    "requests_title": "My requests",
    "board_title": "Tracking board",
    "inbox_title": "Inbox: received requests, nearest deadline first",
    "direction": "Direction",
    "sent": "Sent",
    "received": "Received",
    "counterpart": "Authority",
    "status": "Status",
    "deadline": "Deadline",
    "overdue_only": "Overdue only",
    "filter": "Filter",
    "created": "Created",
    "open": "Open",
    "next_page": "Next page",
    "first_page": "First page",
    "timeline": "Timeline",
    "messages": "Messages",
    "receipt": "Signed receipt",
    "receipt_hash": "Receipt SHA-256",
    "refusal_hash": "Refusal SHA-256",
    "refusal_code": "Reason code",
    "no_receipt": "No receipt yet",
    "signed_at": "signed by the sender",
    "arrived_here": "arrived here (deadlines count from this time)",
    "acknowledge": "Acknowledge",
    "answer": "Answer",
    "answer_text": "Answer",
    "reject": "Reject",
    "reject_reason": "Reason for rejecting",
    "close": "Close request",
    "download": "Download",
    "erased": "Contents erased at the end of their retention period (metadata and audit log kept).",
    "deadlines_title": "Deadlines",
    "state": "State",
    "time_left": "Time left",
    "alerts_title": "Alerts",
    "no_alerts": "No open alerts.",
    "escalation": "Escalation",
    "stats_title": "Cooperation statistics",
    "from": "From (UTC)",
    "to_date": "To (UTC)",
    "group_by": "Group by",
    "by_peer": "Authority",
    "by_country": "Country",
    "show": "Show",
    "download_csv": "Download CSV",
    "audit_title": "Audit log",
    "checkpoint": "Latest checkpoint",
    "cosignatures": "Cosignatures by peers",
    "witness_alerts": "Witness alerts",
    "no_witness_alerts": (
        "No alert: no fork, shrunk log, refused proof or long outage seen in any peer's log."
    ),
    "received_witness_alerts": "Witness alerts from peers",
    "all_received_witness_alerts": "All witness alerts from peers",
    "no_received_witness_alerts": "No peer witness has sent an alert.",
    "alert_issued_by": "raised by {issuer}",
    "verify_now": "Verify the whole log now",
    "verify_ok": "The log verifies: {entries} entries, {checkpoints} checkpoints.",
    "verify_bad": "The log does NOT verify: {problem}",
    "verify_witnesses": (
        "Checked against {count} witnesses' views (what each peer witness last cosigned):"
    ),
    "export_bundle": "Export audit bundle",
    "entries": "Entries",
    "older": "Older",
    "newer": "Newer",
    "admin_title": "Administration",
    "users": "Users",
    "role": "Role",
    "add_user": "Add user",
    "remove": "Remove",
    "directory_status": "Directory",
    "serial": "Serial",
    "expires": "Expires",
    "loaded": "Loaded",
    "keys": "Keys",
    "key_id": "Key id",
    "valid_until": "Valid until",
    "rotate_keys": "Rotate keys now",
    "peers": "Peers",
    "backlog": "Waiting for receipt",
    "last_error": "Last error",
    "reachable": "Reachable",
    "yes": "yes",
    "no": "no",
    "unknown": "unknown",
    "done": "Done.",
    "urgency_emergency": "Emergency (risk to life)",
    "urgency_urgent": "Urgent",
    "urgency_standard": "Standard",
    "kind_information_request": "Information request",
    "kind_spontaneous_information": "Spontaneous information (UNTOC art. 18(4))",
    "kind_mla_request": "Mutual legal assistance request",
    "state_on_track": "On track",
    "state_due_soon": "Due soon",
    "state_overdue": "Overdue",
    "state_met": "Met",
    "state_missed": "Missed",
    "role_investigator": "Investigator",
    "role_liaison": "Liaison prosecutor",
    "role_auditor": "Auditor",
    "role_admin": "Administrator",
    "status_draft": "Draft",
    "status_queued": "Queued",
    "status_delivered": "Delivered",
    "status_received": "Received",
    "status_acknowledged": "Acknowledged",
    "status_answered": "Answered",
    "status_closed": "Closed",
    "status_rejected": "Rejected",
    "status_expired": "Expired (not delivered)",
    "event_drafted": "Draft saved",
    "event_draft_updated": "Draft edited",
    "event_created": "Request created",
    "event_queued": "Queued for delivery",
    "event_delivered": "Delivered, receipt signed by the recipient",
    "event_received": "Received",
    "event_acknowledgement": "Acknowledgement",
    "event_response": "Response",
    "event_rejection": "Rejection",
    "event_closed": "Closed",
    "event_deadline_escalated": "Deadline escalated",
    "event_delivery_failed": "Delivery failed",
    "event_refused": "Refused by the recipient, refusal signed",
    "type_request": "Request",
    "type_acknowledgement": "Acknowledgement",
    "type_response": "Response",
    "type_rejection": "Rejection",
    "kind_due_soon": "Due soon",
    "kind_overdue": "Overdue",
    "kind_unacknowledged": "Not acknowledged in time",
    "authority_central_authority": "Central authority",
    "authority_police": "Police",
    "authority_prosecution": "Prosecution",
    "authority_border_guard": "Border guard",
    "authority_financial_intelligence_unit": "Financial intelligence unit",
    "authority_liaison": "Liaison",
    "directory_entries": "Entries",
    "no_directory": "No directory loaded.",
    "directory_ageing": (
        "The directory has used 75 % of its lifetime: ask the operator for a new one."
    ),
    "directory_ending": (
        "The directory expires in less than 24 hours: check that the node can fetch a new one."
    ),
    "directory_expired": (
        "The directory has expired: nothing is sent or accepted until a new one is installed."
    ),
    "revocations_received": (
        "Keys revoked by their authority (statements received directly, before the next directory)"
    ),
    "revoked_from": "revoked from",
    "directory_equivocations": "Equivocation alerts: two directories signed with the same serial",
    "cosigned_size": "Cosigned tree size {size}:",
    "audit_action": "Action",
    "audit_actor": "Actor",
    "audit_fields": "Fields",
    "key_alg": "Algorithm",
    "requests_count": "Requests",
    "delivery_p50_p90": "Delivery p50 / p90",
    "ack_p50_p90": "Acknowledgement p50 / p90",
    "answer_p50_p90": "Answer p50 / p90",
    "on_time": "On time",
    "overdue_now": "Overdue now",
    "language_hint": (
        "{recipient} accepts {accepted}: a request in '{language}' may be refused or delayed."
    ),
    "aria_main": "Main",
    "aria_open_alerts": "{count} open",
    "aria_pages": "Pages",
    "aria_actions": "Actions",
    "size_bytes": "{size} bytes",
    "sent_progress": "sent to {recipient}: {sent} of {total} bytes confirmed",
    "upload_progress": "uploaded, resumable if the connection breaks",
    "upload_no_room": (
        "The node's disk has no room for this file now:"
        " tell your administrator, then choose the file again."
    ),
    "nav_cases": "Cases",
    "nav_open_case": "Open a case",
    "cases_title": "Cases",
    "case_open_title": "Open a case",
    "case_title_field": "Title",
    "case_reference": "Your reference",
    "case_offences": "Offences",
    "case_route": "Route",
    "case_route_hint": (
        "Countries in order along the route (ISO codes such as SN, MA, ES); "
        "leave a row empty to skip it."
    ),
    "case_stop": "Stop {number}",
    "case_open_button": "Open the case",
    "case_status_open": "Open",
    "case_status_closed": "Closed",
    "offence_migrant_smuggling": "Migrant smuggling",
    "offence_trafficking_in_persons": "Trafficking in persons",
    "offence_document_fraud": "Document fraud",
    "offence_money_laundering": "Money laundering",
    "offence_organised_crime": "Organised crime",
    "offence_corruption": "Corruption",
    "offence_other": "Other",
    "route_origin": "origin",
    "route_transit": "transit",
    "route_destination": "destination",
    "case_implicit": "Case of one request",
    "case_no_title": "(no title)",
    "case_erased": "Title and reference erased (retention)",
    "case_requests": "Requests in this case",
    "case_new_request": "New request in this case",
    "case_close": "Close the case",
    "case_choice": "Case",
    "case_new_default": "A new case",
    "case_receipt": "Receipt",
    "receipt_held": "Signed receipt held",
    "receipt_awaiting": "Awaiting receipt",
    "receipt_issued": "Receipt issued by us",
    "case_requests_count": "Requests",
    # the conversation (issue 16)
    "status_awaiting_clarification": "Awaiting clarification",
    "status_partially_answered": "Partially answered",
    "status_transferred": "Transferred",
    "status_withdrawn": "Withdrawn",
    "event_clarification_request": "Additional information requested",
    "event_clarification": "Additional information given",
    "event_partial_response": "Partial response",
    "event_transfer": "Transferred to another authority",
    "event_withdrawal": "Withdrawn by the requester",
    "event_reminder": "Reminder",
    "event_consent_request": "Consent requested",
    "event_consent": "Consent answer",
    "type_clarification_request": "Request for additional information",
    "type_clarification": "Additional information",
    "type_partial_response": "Partial response",
    "type_transfer": "Transfer",
    "type_withdrawal": "Withdrawal",
    "type_reminder": "Reminder",
    "type_consent_request": "Consent request",
    "type_consent": "Consent answer",
    "aria_conversation": "Conversation",
    "transfer_to": "Competent authority to transfer to",
    "transferred_to": "Now held by",
    "consent_purpose": "Consent to",
    "consent_purpose_use": "Use the information in other proceedings",
    "consent_purpose_disclosure": "Pass the information on",
    "consent_about": "Consent request answered",
    "consent_answer": "Answer",
    "consent_granted": "Consent granted",
    "consent_refused": "Consent refused",
    "message_text_clarification_request": "What additional information is needed",
    "message_text_clarification": "Additional information",
    "message_text_partial_response": "Partial response",
    "message_text_transfer": "Reason for the transfer",
    "message_text_withdrawal": "Reason for withdrawing",
    "message_text_reminder": "Reminder text (optional)",
    "message_text_consent_request": "What you want to do with the information",
    "message_text_consent": "Conditions or comment (optional)",
    "send_clarification_request": "Ask for additional information",
    "send_clarification": "Send the additional information",
    "send_partial_response": "Send a partial response",
    "send_transfer": "Transfer the request",
    "send_withdrawal": "Withdraw the request",
    "send_reminder": "Send a reminder",
    "send_consent_request": "Ask for consent",
    "send_consent": "Answer the consent request",
    **SPAN_EN,
    **CONDITIONS["en"],
    **RECIPIENTS["en"],
    **SHARING["en"],
    **SPONTANEOUS["en"],
    **MEMBERSHIP["en"],
    **SEARCH["en"],
}

# Imported here, after EN: each table holds EN's keys and fields (tests/ui/test_languages.py).
from .locales.ar import AR  # noqa: E402
from .locales.es import ES  # noqa: E402
from .locales.fr import FR  # noqa: E402

STRINGS: dict[str, dict[str, str]] = {"en": EN, "fr": FR, "es": ES, "ar": AR}
DIRECTION: dict[str, str] = {"en": "ltr", "fr": "ltr", "es": "ltr", "ar": "rtl"}
# Each language named in itself, for the switcher.
NAMES: dict[str, str] = {"en": "English", "fr": "Français", "es": "Español", "ar": "العربية"}
LANGUAGE_COOKIE = "exchange_lang"


def choose_language(cookie: str | None, accept_language: str | None) -> str:
    """The user's choice (a cookie set by the switcher), else the browser's preferred
    language among ours (``Accept-Language`` by weight), else English."""
    if cookie in STRINGS:
        return cookie
    wanted: list[tuple[float, int, str]] = []
    for position, part in enumerate((accept_language or "").split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        weight = 1.0
        if params.strip().startswith("q="):
            try:
                weight = float(params.strip()[2:])
            except ValueError:
                continue
        base = tag.strip().lower().split("-")[0]
        if base in STRINGS and weight > 0:
            wanted.append((-weight, position, base))
    return min(wanted)[2] if wanted else "en"


def translator(language: str = "en") -> tuple[str, str, Callable[..., str]]:
    """(lang, dir, t) for a template; ``t(key, **fields)`` formats the string."""
    table = STRINGS.get(language, EN)

    def t(key: str, **fields: object) -> str:
        text = table.get(key) or EN[key]  # KeyError: a missing string is a bug
        return text.format(**fields) if fields else text

    return (language if language in STRINGS else "en"), DIRECTION.get(language, "ltr"), t


def labeller(language: str = "en") -> Callable[[str, str], str]:
    """``label("status", "answered")``: the string for a value the data holds."""
    table = STRINGS.get(language, EN)

    def label(group: str, value: str) -> str:
        key = f"{group}_{value}"
        return table.get(key) or EN.get(key) or value.replace("_", " ")

    return label
