"""OpenAPI 3.1 description of the local JSON API, served at ``/api/openapi.json``.

A test checks that every ``/api`` route of the app is described here.
"""

from __future__ import annotations

from ...core.canonical import JsonObject
from ...core.content import REQUEST_KINDS
from ..idempotency import EXEMPT
from .openapi_parts import (
    _CASE,
    _CONDITIONS,
    _DEADLINE_ENUMS,
    _DIRECTORY_WARNING,
    _ID,
    _Q,
    _STATS_Q,
    _message_body,
    _obj,
    _op,
    _optional_body,
    _page_schema,
    _paged,
    _query,
    _with,
    _with_attachments,
    _with_recipients,
    with_idempotency_keys,
)

OPENAPI: JsonObject = {
    "openapi": "3.1.0",
    "info": {"title": "Exchange node local API", "version": "1"},
    "components": {
        "securitySchemes": {
            "session": {"type": "apiKey", "in": "cookie", "name": "exchange_session"},
            "csrf": {"type": "apiKey", "in": "header", "name": "X-CSRF-Token"},
        },
        "schemas": {
            "Error": {
                "type": "object",
                "required": ["error"],
                "properties": {
                    "error": {
                        "type": "object",
                        "required": ["code", "message"],
                        "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
                    }
                },
            },
            "RequestPage": _page_schema("requests"),
            "CasePage": _page_schema("cases"),
            "DeadlinePage": _page_schema("deadlines", "now"),
            "AlertPage": _page_schema("alerts")
            | {
                "properties": _page_schema("alerts")["properties"]
                | {"directory": _DIRECTORY_WARNING}
            },
        },
    },
    "security": [{"session": [], "csrf": []}],
    "paths": {
        "/api/login": {
            "post": _op(
                "Log in: sets the session cookie, returns the CSRF token. The body must be "
                "application/json (415 unsupported_media_type) and an Origin of another "
                "site is refused (403 csrf_failed): login CSRF",
                body=_obj(["username", "password"]),
                auth=False,
                refusals=("415",),
            )
        },
        "/api/logout": {"post": _op("Log out")},
        "/api/me": {"get": _op("The logged-in user, role and CSRF token")},
        "/api/directory": {"get": _op("Search the competent-authority directory", params=_Q)},
        "/api/search": {
            "get": _paged(
                "Requests holding every word of `q` (1-200 characters, 1-8 words; whole "
                "words, case and accents folded) in their subject, body, either reference "
                "or counterpart's id, among those the user may see in the requests list, "
                "newest first, a page at a time (cursors of /api/requests). Contents erased "
                "by retention are not found. 503 `index_building` while the node builds its "
                "in-memory index after starting",
                params=[
                    {
                        "name": "q",
                        "in": "query",
                        "required": True,
                        "schema": {"type": "string", "minLength": 1, "maxLength": 200},
                    }
                ],
            )
        },
        "/api/requests": {
            "get": _paged(
                "Requests visible to the user (investigators: their own), newest first, "
                "a page at a time",
                params=[
                    {
                        "name": "direction",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "string", "enum": ["in", "out"]},
                    },
                    {
                        "name": "kind",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "string", "enum": list(REQUEST_KINDS)},
                    },
                ],
            ),
            "post": _op(
                "Create a request: sealed, queued and delivered in the background. "
                "`to` as a list of 1-20 distinct authorities makes one request per recipient, "
                "each sealed for it alone, all in one case, in one transaction (all or none; "
                "attachments: one recipient only), answering "
                '`{"case_id", "group_id", "requests": [{"id", "msg_id", "to", "status"}]}`',
                body=_with_recipients(
                    _with(
                        _with_attachments(
                            _obj(
                                ["to", "kind", "urgency", "subject", "body", "language"],
                                ["deadline", "case_id"],
                            )
                        ),
                        *_CONDITIONS,
                    )
                ),
                ok="201",
            ),
        },
        "/api/inbox": {
            "get": _paged("Received requests, nearest deadline first, a page at a time (liaison)")
        },
        "/api/requests/{id}": {
            "get": _op("A request with timeline, messages and receipts", params=_ID)
        },
        "/api/requests/{id}/acknowledge": {
            "post": _optional_body(
                _op(
                    "Acknowledge a received request, with our own file reference if given",
                    params=_ID,
                    body=_with(_obj([]), "reference"),
                )
            )
        },
        "/api/requests/{id}/responses": {
            "post": _op(
                "Answer a received request",
                params=_ID,
                body=_with(
                    _with_attachments(_obj(["body"], ["language"])), "handling", "evaluation"
                ),
            )
        },
        "/api/requests/{id}/reject": {
            "post": _op(
                "Reject a received request with a reason", params=_ID, body=_obj(["reason"])
            )
        },
        "/api/requests/{id}/messages": {
            "post": _op(
                "Send a message of the conversation about a request: type is one of"
                " acknowledgement, clarification_request, clarification, partial_response,"
                " response, rejection, transfer, withdrawal, reminder, consent_request,"
                " consent (docs/PROTOCOL.md says who may send which, and when)",
                params=_ID,
                body=_message_body(),
                refusals=("403", "409", "429"),
            )
        },
        "/api/attachments": {
            "post": {
                **_op(
                    "Upload an evidence file (multipart, part 'file'); encrypted as it streams",
                    ok="201",
                    refusals=("507",),
                ),
                "requestBody": {
                    "required": True,
                    "content": {
                        "multipart/form-data": {
                            "schema": {
                                "type": "object",
                                "required": ["file"],
                                "properties": {"file": {"type": "string", "format": "binary"}},
                            }
                        }
                    },
                },
            }
        },
        "/api/uploads": {
            "post": _op(
                "Start a resumable upload (tus 1.0 creation: Upload-Length header, "
                "Upload-Metadata filename and filetype in base64); 201 with Location",
                ok="201",
                refusals=("409", "413", "507"),
            )
        },
        "/api/uploads/{id}": {
            "head": _op(
                "Where a resumable upload stands (Upload-Offset, Upload-Length)", params=_ID
            ),
            "patch": _op(
                "Send the bytes at Upload-Offset (application/offset+octet-stream); 204, or "
                "200 with the attachment once the file is whole (its id is the upload's)",
                params=_ID,
                refusals=("409", "415", "507"),
            ),
        },
        "/api/requests/{id}/attachments/{attachment_id}": {
            "get": _op(
                "Download an attachment, decrypted and checked against its signed hash",
                params=[
                    *_ID,
                    {
                        "name": "attachment_id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string"},
                    },
                ],
            )
        },
        "/api/drafts": {
            "post": _op(
                "Save a request as a draft (not sent)",
                body=_with(
                    _with_attachments(
                        _obj(
                            ["to", "kind", "urgency", "subject", "body", "language"],
                            ["deadline", "case_id"],
                        )
                    ),
                    *_CONDITIONS,
                ),
                ok="201",
            )
        },
        "/api/drafts/{id}": {
            "put": _op(
                "Replace the form of one of your drafts",
                body=_with(
                    _with_attachments(
                        _obj(
                            ["to", "kind", "urgency", "subject", "body", "language"],
                            ["deadline", "case_id"],
                        )
                    ),
                    *_CONDITIONS,
                ),
                params=_ID,
            ),
            "delete": _op("Discard one of your drafts", params=_ID),
        },
        "/api/requests/{id}/send": {"post": _op("Seal and send a draft", params=_ID)},
        "/api/requests/{id}/close": {"post": _op("Close an answered request", params=_ID)},
        "/api/cases": {
            "get": _paged(
                "Cases visible to the user (investigators: the ones they opened), newest "
                "first, a page at a time; filters: status, authority (a counterpart of one "
                "of its requests), country (on its route or of a counterpart), overdue, "
                "text (every word in its sealed title or reference, or an implicit case's "
                "subject: the in-memory search index, 503 `index_building` until built)",
                params=_query(
                    "text",
                    "status",
                    "authority",
                    "country",
                    "overdue",
                    "shared",
                    enums={
                        "status": ["open", "closed"],
                        "overdue": ["true", "false"],
                        "shared": ["0", "1"],
                    },
                ),
                page="CasePage",
            ),
            "post": _op(
                "Open a case (investigators): title (1-200 characters), reference (at most "
                "100), offences (at least one of the fixed vocabulary), route (at most 20 "
                "stops {country, role})",
                body=_CASE,
                ok="201",
            ),
        },
        "/api/cases/{id}": {
            "get": _op(
                "A case with every request in it, both directions: status, counterpart, "
                "deadline and receipt state; its members and membership messages; and "
                "consents: every consent request about its requests, both directions "
                "{request_id, msg_id, asked_by, asked_of, purpose, asked_at, concerns, "
                "answer pending|granted|refused, answered_at, answer_msg_id} (viewing it "
                "is audited); 404 unknown_case",
                params=_ID,
            )
        },
        "/api/cases/{id}/close": {
            "post": _op(
                "Close a case none of whose requests awaits an answer (409 case_awaiting; "
                "409 case_closed if closed already)",
                params=_ID,
            )
        },
        "/api/cases/{id}/members": {
            "post": _op(
                "Invite an authority of the directory to a case this node opened (its "
                "investigator or a liaison prosecutor): {authority}; 404 not_found outside "
                "the directory, 409 conflict if invited or a member already, 422 "
                "invalid_request for an implicit case or another's shared case",
                params=_ID,
                ok="202",
            )
        },
        "/api/cases/{id}/members/{authority}/remove": {
            "post": _op(
                "Remove a member from a case this node opened, or withdraw an invitation "
                "(its investigator or a liaison prosecutor): the new member list goes to "
                "the members and, this once, to the one removed; 409 not_a_member if it is "
                "neither invited nor a member, 422 invalid_request for another's case or "
                "this node itself",
                params=[
                    *_ID,
                    {
                        "name": "authority",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string"},
                    },
                ],
                ok="202",
            )
        },
        "/api/cases/{id}/leave": {
            "post": _op(
                "Leave a case another authority opened (liaison prosecutors): a signed "
                "departure to its origin; the copy stays, marked left; 409 not_a_member "
                "unless this node is a member, 422 invalid_request for a case it opened",
                params=_ID,
                ok="202",
            )
        },
        "/api/cases/{id}/accept": {
            "post": _op(
                "Accept an invitation this node holds (liaison prosecutors), with our "
                "reference and the investigator of ours who holds the copy "
                "{reference, investigator}; 422 invalid_request if none is open",
                params=_ID,
                ok="202",
            )
        },
        "/api/cases/{id}/decline": {
            "post": _op(
                "Decline an invitation this node holds (liaison prosecutors)",
                params=_ID,
                ok="202",
            )
        },
        "/api/deadlines": {
            "get": _paged(
                "Tracked requests (investigators: their own), open ones first by time left, "
                "then the settled ones by the time they had left, each with its request's "
                "handling (null for admins); a page at a time",
                params=_query("state", "urgency", "peer", enums=_DEADLINE_ENUMS),
                page="DeadlinePage",
            )
        },
        "/api/alerts": {
            "get": _paged(
                "Deadline escalations, newest first, a page at a time",
                params=_query("all"),
                page="AlertPage",
            )
        },
        "/api/stats": {"get": _op("Cooperation statistics per peer or country", params=_STATS_Q)},
        "/api/stats.csv": {"get": _op("The same statistics as CSV", params=_STATS_Q)},
        "/api/stats.svg": {"get": _op("A chart of time to answer (SVG)", params=_STATS_Q)},
        "/api/audit/entries": {
            "get": _op("Audit entries with their exact leaf bytes", params=_query("start", "end"))
        },
        "/api/audit/proof": {
            "get": _op("Inclusion proof of an entry in a tree size", params=_query("index", "size"))
        },
        "/api/audit/checkpoint": {"get": _op("Latest signed checkpoint with its cosignatures")},
        "/api/audit/alerts": {
            "get": _paged(
                "Witness alerts: forks and shrunk logs seen in peers, newest first, "
                "a page at a time",
                page="AlertPage",
            )
        },
        "/api/audit/received-alerts": {
            "get": _paged(
                "Witness alerts other nodes signed and sent us, newest first, a page at a time",
                page="AlertPage",
            )
        },
        "/api/audit/verify": {"post": _op("Verify the whole audit log now")},
        "/api/audit/bundle": {
            "get": _op("Export entries, checkpoints and cosignatures to verify elsewhere")
        },
        "/api/openapi.json": {"get": _op("This description", auth=False)},
    },
}
with_idempotency_keys(OPENAPI["paths"], EXEMPT)
