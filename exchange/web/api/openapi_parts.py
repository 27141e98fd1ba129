"""The pieces the OpenAPI description (``openapi.py``) is built from: operations,
bodies, query parameters, pages, and the schemas of issue 16's fields."""

from __future__ import annotations

from ...core.canonical import JsonObject
from ...core.cases import OFFENCES, ROUTE_ROLES

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


def _with_recipients(schema: JsonObject) -> JsonObject:
    """``to``: one authority id, or a list of 1 to 20 distinct ones (one request each)."""
    one = {"type": "string", "maxLength": 200}
    several = {"type": "array", "minItems": 1, "maxItems": 20, "uniqueItems": True, "items": one}
    return {**schema, "properties": {**schema["properties"], "to": {"oneOf": [one, several]}}}


_HANDLING = {
    "type": "object",
    "description": "Conditions of use (docs/PROTOCOL.md): H0 no restriction; H1 not as "
    "evidence in judicial proceedings without permission; H2 not to be disseminated further "
    "without permission; H3 other restrictions, stated in text (required for H3 only)",
    "required": ["code", "use_limitation", "confidential"],
    "additionalProperties": False,
    "properties": {
        "code": {"type": "string", "enum": ["H0", "H1", "H2", "H3"]},
        "text": {"type": "string", "maxLength": 2000},
        "use_limitation": {"type": "boolean", "description": "UNTOC art. 18(19)"},
        "confidential": {"type": "boolean", "description": "UNTOC art. 18(20)"},
    },
}
_EVALUATION = {
    "type": "object",
    "required": ["source", "information"],
    "additionalProperties": False,
    "properties": {
        "source": {"type": "string", "enum": ["A", "B", "C", "D", "X"]},
        "information": {"type": "integer", "enum": [1, 2, 3, 4]},
    },
}
_REFERENCE = {"type": "string", "minLength": 1, "maxLength": 100}


def _with(schema: JsonObject, *names: str) -> JsonObject:
    """Issue 16's fields added to a body: ``reference``, ``handling``, ``evaluation``."""
    known = {"reference": _REFERENCE, "handling": _HANDLING, "evaluation": _EVALUATION}
    return {**schema, "properties": {**schema["properties"], **{n: known[n] for n in names}}}


_CONDITIONS = ("reference", "handling", "evaluation")


def _optional_body(op: JsonObject) -> JsonObject:
    return {**op, "requestBody": {**op["requestBody"], "required": False}}


def _message_body() -> JsonObject:
    schema = _with(
        _with_attachments(_obj(["type"], ["body", "reason", "language", "to", "purpose", "about"])),
        *_CONDITIONS,
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


_CASE: JsonObject = {
    "type": "object",
    "required": ["title", "offences"],
    "additionalProperties": False,
    "properties": {
        "title": {"type": "string", "minLength": 1, "maxLength": 200},
        "reference": {"type": ["string", "null"], "maxLength": 100},
        "offences": {
            "type": "array",
            "minItems": 1,
            "uniqueItems": True,
            "items": {"type": "string", "enum": list(OFFENCES)},
        },
        "route": {
            "type": "array",
            "maxItems": 20,
            "items": {
                "type": "object",
                "required": ["country", "role"],
                "additionalProperties": False,
                "properties": {
                    "country": {"type": "string", "pattern": "^[A-Z]{2}$"},
                    "role": {"type": "string", "enum": list(ROUTE_ROLES)},
                },
            },
        },
    },
}


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


IDEMPOTENCY_KEY: JsonObject = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": (
        "draft-ietf-httpapi-idempotency-key-header: 1-255 printable ASCII characters, fresh "
        "per operation. A retry with the same key (same user, method, path and body) answers "
        "the first result with Idempotent-Replayed: true and runs nothing; another call with "
        "the key is 422 idempotency_key_reused, one still running 409 "
        "idempotency_in_progress, a malformed key 400 malformed_idempotency_key"
    ),
    "schema": {"type": "string", "minLength": 1, "maxLength": 255},
}
WRITES = ("post", "put", "patch", "delete")


def with_idempotency_keys(paths: JsonObject, exempt: frozenset[str]) -> None:
    """Every state-changing operation (but the ``exempt`` paths) takes the header."""
    for path, operations in paths.items():
        if path in exempt:
            continue
        for method, op in operations.items():
            if method in WRITES:
                op["parameters"] = [*op.get("parameters", []), IDEMPOTENCY_KEY]
