"""Peer-facing endpoints (``/v1/...``): other nodes deliver envelopes here.

Every call's ``X-Exchange-Auth`` is checked against the directory and the nonces
seen before its body is read, and its signature over the body before the body is
parsed (see ``exchange.core.peer_auth``); bodies must be canonical JSON.
"""

from __future__ import annotations

import json

import structlog
from aiohttp import web

from ...core.bodies import read_limited
from ...core.canonical import JsonObject, b64d, canonical_json, loads_canonical, sha256_hex
from ...core.errors import ExchangeError, Malformed, TooLarge
from ...core.peer_auth import HEADER, CallAuth, check_header, verify_body
from ...service import inbound, peer_nonces
from ...service.node import Node
from ..appkeys import METRICS_KEY, NODE_KEY, NONCES_KEY, PEER_LIMITER_KEY
from ..errors import STATUS

log = structlog.get_logger("exchange.peer")
routes = web.RouteTableDef()


async def authenticated_body(request: web.Request, limit: int) -> tuple[str, bytes]:
    """The calling peer and the body it signed: the header is checked before a byte
    of the body is read, then the body (whole, under ``limit``) against the signature."""
    auth = check_auth(request)
    if request.content_length is not None and request.content_length > limit:
        raise TooLarge(f"body is larger than {limit} bytes")
    body = await read_limited(request.content, limit)
    caller = accept_call(request, auth, sha256_hex(body))
    await peer_nonces.claim(request.app[NODE_KEY], auth)
    return caller, body


async def authenticate(request: web.Request, *, body_sha256: str) -> str:
    """The peer whose ``X-Exchange-Auth`` signs this call and the hash of a body still
    to stream (checked against it while it streams)."""
    auth = check_auth(request)
    caller = accept_call(request, auth, body_sha256)
    await peer_nonces.claim(request.app[NODE_KEY], auth)
    return caller


def check_auth(request: web.Request) -> CallAuth:
    """Everything that needs no body: the header, its sender, key and time, and a nonce
    not seen before. A call that fails here is answered with its body unread."""
    node = request.app[NODE_KEY]
    auth = check_header(
        request.headers.get(HEADER),
        method=request.method,
        path=request.path_qs,
        me=node.me,
        directory=node.directory.require(),
        now=node.clock.now(),
    )
    request.app[NONCES_KEY].check(auth)
    return auth


def accept_call(request: web.Request, auth: CallAuth, body_sha256: str) -> str:
    """The signature over the body's hash; then the nonce is remembered (a second use is
    a ``replay``) and the call counts against the peer's rate limit."""
    verify_body(auth, body_sha256)
    now = request.app[NODE_KEY].clock.now()
    request.app[NONCES_KEY].remember(auth, now)
    structlog.contextvars.bind_contextvars(peer=auth.sender)
    request.app[PEER_LIMITER_KEY].take(auth.sender, now)
    return auth.sender


@routes.post("/v1/envelopes")
async def post_envelope(request: web.Request) -> web.Response:
    """One envelope in the body; 200 with the signed receipt, or a 4xx error code (with
    the signed refusal when the envelope was the caller's)."""
    node: Node = request.app[NODE_KEY]
    caller, body = await authenticated_body(request, node.config.limits.max_envelope_bytes)
    counters = request.app[METRICS_KEY]
    (result,) = await inbound.accept_envelopes(node, [body], caller=caller)
    if isinstance(result, inbound.Refused):
        counters.rejections.labels(reason=result.error.code).inc()
        log.info("request_refused", path=request.path, code=result.error.code)
        status = STATUS.get(result.error.code, 400)
        response = web.Response(body=_refused(result), status=status)
        response.content_type = "application/json"
        response.headers["Cache-Control"] = "no-store"
        return response
    counters.received.labels(peer=caller).inc()
    return web.Response(body=result, content_type="application/json")


def _refused(refused: inbound.Refused, *, status: int | None = None) -> bytes:
    """``{"error": {code, message[, status]}[, "refusal": signed refusal]}``."""
    error: dict[str, object] = {"code": refused.error.code, "message": refused.error.message}
    if status is not None:
        error["status"] = status
    answer: JsonObject = {"error": error}
    if refused.refusal is not None:
        answer["refusal"] = json.loads(refused.refusal)  # signed over its canonical bytes
    return canonical_json(answer)  # canonical: the sender reads nothing else


@routes.post("/v1/transactions")
async def post_transaction(request: web.Request) -> web.Response:
    """A batch ``{"envelopes": [base64, ...]}``; one result per envelope, in order."""
    node: Node = request.app[NODE_KEY]
    limits = node.config.limits
    caller, body = await authenticated_body(request, transaction_limit(node))
    doc = loads_canonical(body, max_depth=4, what="transaction body")
    envelopes = doc.get("envelopes")
    if set(doc) != {"envelopes"} or not isinstance(envelopes, list) or not envelopes:
        raise Malformed('body must be {"envelopes": [base64 envelope, ...]}')
    if len(envelopes) > limits.max_batch:
        raise TooLarge(f"at most {limits.max_batch} envelopes per transaction")

    counters = request.app[METRICS_KEY]
    items: list[bytes | ExchangeError] = []
    for item in envelopes:
        try:
            items.append(b64d(item, field="envelope"))
        except ExchangeError as exc:
            items.append(exc)
    results = await inbound.accept_envelopes(node, items, caller=caller)
    parts: list[bytes] = []
    for result in results:
        if isinstance(result, bytes):
            counters.received.labels(peer=caller).inc()
            parts.append(b'{"receipt":' + result + b"}")  # the receipt is JSON already
        else:
            code = result.error.code
            counters.rejections.labels(reason=code).inc()
            log.info("envelope_rejected", code=code)
            parts.append(_refused(result, status=STATUS.get(code, 400)))
    body = b'{"results":[' + b",".join(parts) + b"]}"  # canonical: the sender checks
    return web.Response(body=body, content_type="application/json")


@routes.get("/v1/health")
async def health(request: web.Request) -> web.Response:
    node: Node = request.app[NODE_KEY]
    directory = node.directory.current
    return web.json_response(
        {
            "authority_id": node.me,
            "status": "ok" if directory else "no_directory",
            "directory_serial": directory.serial if directory else None,
        }
    )


MAX_TRANSACTION_BYTES = 16 * 1024 * 1024


def transaction_limit(node: Node) -> int:
    # Senders split batches so that they stay under this (see DeliveryWorker).
    return max(MAX_TRANSACTION_BYTES, node.config.limits.max_envelope_bytes * 2)
