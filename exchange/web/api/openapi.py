"""OpenAPI 3.1 description of the local JSON API, served at ``/api/openapi.json``.

A test checks that every ``/api`` route of the app is described here.
"""

from __future__ import annotations

from ...core.canonical import JsonObject

_ERROR = {
    "description": "Refused: body is {error: {code, message}}",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
}
_ERRORS = {code: _ERROR for code in ("400", "401", "403", "404", "409", "413", "422", "429")}


def _op(
    summary: str,
    *,
    body: JsonObject | None = None,
    ok: str = "200",
    params: list[JsonObject] | None = None,
    auth: bool = True,
    refusals: tuple[str, ...] = (),
) -> JsonObject:
    """``refusals``: error statuses of this operation beyond the common ones."""
    op: JsonObject = {
        "summary": summary,
        "responses": {
            ok: {"description": "OK", "content": {"application/json": {}}},
            **_ERRORS,
            **{code: _ERROR for code in refusals},
        },
    }
    if body is not None:
        op["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": body}},
        }
    if params:
        op["parameters"] = params
    if not auth:
        op["security"] = []
    return op


def _obj(required: list[str], optional: list[str] | None = None) -> JsonObject:
    names = required + (optional or [])
    return {
        "type": "object",
        "required": required,
        "additionalProperties": False,
        "properties": {n: {"type": "string", "maxLength": 200_000} for n in names},
    }


_ID = [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}]


def _with_attachments(schema: JsonObject) -> JsonObject:
    ids = {"type": "array", "maxItems": 20, "items": {"type": "string", "maxLength": 64}}
    return {**schema, "properties": {**schema["properties"], "attachments": ids}}


def _message_body() -> JsonObject:
    schema = _with_attachments(
        _obj(["type"], ["body", "reason", "language", "to", "purpose", "about"])
    )
    properties = {
        **schema["properties"],
        "type": {"type": "string", "enum": list(_MESSAGE_TYPES)},
        "purpose": {"type": "string", "enum": ["use", "disclosure"]},
        "granted": {"type": "boolean"},
    }
    return {**schema, "properties": properties}


_MESSAGE_TYPES = (
    "acknowledgement",
    "clarification_request",
    "clarification",
    "partial_response",
    "response",
    "rejection",
    "transfer",
    "withdrawal",
    "reminder",
    "consent_request",
    "consent",
)


def _query(*names: str, enums: dict[str, list[str]] | None = None) -> list[JsonObject]:
    return [
        {
            "name": n,
            "in": "query",
            "required": False,
            "schema": {"type": "string", "enum": enums[n]}
            if enums and n in enums
            else {"type": "string"},
        }
        for n in names
    ]


_DEADLINE_ENUMS = {
    "state": ["on_track", "due_soon", "overdue", "met", "missed"],
    "urgency": ["emergency", "urgent", "standard"],
}
_STATS_Q = _query("from", "to", "by", enums={"by": ["peer", "country"]})
_Q = [
    {"name": n, "in": "query", "required": False, "schema": {"type": "string"}}
    for n in ("q", "country", "kind", "language", "limit")
]
_PAGE_Q = [
    {
        "name": "cursor",
        "in": "query",
        "required": False,
        "description": "The `next` of the previous page, passed back unchanged (opaque); "
        "absent for the first page. A cursor of another list, or altered, is refused "
        "(400 malformed).",
        "schema": {"type": "string", "maxLength": 400},
    },
    {
        "name": "limit",
        "in": "query",
        "required": False,
        "description": "Rows per page: 100 by default, at most 500 (more counts as 500).",
        "schema": {"type": "integer", "minimum": 1, "maximum": 500, "default": 100},
    },
]


def _paged(
    summary: str, params: list[JsonObject] | None = None, page: str = "RequestPage"
) -> JsonObject:
    """A list a page at a time: ``cursor`` and ``limit``, answered with ``page``."""
    op = _op(summary, params=[*(params or []), *_PAGE_Q])
    op["responses"]["200"] = {
        "description": "One page; `next` is null on the last one",
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{page}"}}},
    }
    return op


_DIRECTORY_WARNING: JsonObject = {
    "type": ["object", "null"],
    "description": "The directory's lifetime warning, null while it is fresh: state"
    " ageing (75 % of its lifetime used), ending (under 24 h left) or expired (nothing"
    " is sent or accepted until a fresh directory is installed)",
    "properties": {
        "state": {"type": "string", "enum": ["ageing", "ending", "expired"]},
        "serial": {"type": "integer"},
        "expires_at": {"type": "string"},
        "seconds_left": {"type": "integer"},
    },
}


def _page_schema(key: str, *also: str) -> JsonObject:
    """A page of a list: its rows under ``key``, and the cursor of the next page."""
    properties: JsonObject = {name: {"type": "string"} for name in also}
    return {
        "type": "object",
        "required": [*also, key, "next"],
        "properties": {
            **properties,
            key: {"type": "array", "items": {"type": "object"}},
            "next": {
                "type": ["string", "null"],
                "description": "Cursor of the following page; null on the last page",
            },
        },
    }


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
                    }
                ],
            ),
            "post": _op(
                "Create a request: sealed, queued and delivered in the background",
                body=_with_attachments(
                    _obj(["to", "kind", "urgency", "subject", "body", "language"], ["deadline"])
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
            "post": _op("Acknowledge a received request", params=_ID)
        },
        "/api/requests/{id}/responses": {
            "post": _op(
                "Answer a received request",
                params=_ID,
                body=_with_attachments(_obj(["body"], ["language"])),
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
                body=_with_attachments(
                    _obj(["to", "kind", "urgency", "subject", "body", "language"], ["deadline"])
                ),
                ok="201",
            )
        },
        "/api/drafts/{id}": {
            "put": _op(
                "Replace the form of one of your drafts",
                body=_with_attachments(
                    _obj(["to", "kind", "urgency", "subject", "body", "language"], ["deadline"])
                ),
                params=_ID,
            ),
            "delete": _op("Discard one of your drafts", params=_ID),
        },
        "/api/requests/{id}/send": {"post": _op("Seal and send a draft", params=_ID)},
        "/api/requests/{id}/close": {"post": _op("Close an answered request", params=_ID)},
        "/api/deadlines": {
            "get": _paged(
                "Tracked requests (investigators: their own), open ones first by time left, "
                "then the settled ones by the time they had left; a page at a time",
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
        "/api/audit/verify": {"post": _op("Verify the whole audit log now")},
        "/api/audit/bundle": {
            "get": _op("Export entries, checkpoints and cosignatures to verify elsewhere")
        },
        "/api/openapi.json": {"get": _op("This description", auth=False)},
    },
}
