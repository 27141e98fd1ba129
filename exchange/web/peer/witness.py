"""The node as a witness: c2sp.org/tlog-witness ``POST /add-checkpoint`` at its base URL
(unauthenticated, as the specification says: only the checkpoint's signature counts,
so it is bounded by a body limit and a rate limit per client address), and, for
authenticated peers, the latest checkpoint it cosigned for a log
(``GET /v1/witness/checkpoint?origin=...``), which ``exchange audit verify`` compares
the log with."""

from __future__ import annotations

import structlog
from aiohttp import web

from ...core.bodies import read_limited
from ...core.errors import Malformed, NotFound, OldSizeMismatch, TooLarge
from ...core.tlog_witness import CONTENT_TYPE_SIZE, MAX_BODY_BYTES
from ...service import witness
from ..appkeys import NODE_KEY, WITNESS_LIMITER_KEY
from .envelopes import authenticated_body

log = structlog.get_logger("exchange.witness")
routes = web.RouteTableDef()
MAX_ORIGIN_CHARS = 300


@routes.post("/add-checkpoint")
async def add_checkpoint(request: web.Request) -> web.Response:
    """200 with the cosignature line; 409 ``text/x.tlog.size`` with the size held; 400,
    403, 404, 413, 422 and 429 as JSON errors (docs/PROTOCOL.md)."""
    node = request.app[NODE_KEY]
    request.app[WITNESS_LIMITER_KEY].take(request.remote or "?", node.clock.now())
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise TooLarge(f"body is larger than {MAX_BODY_BYTES} bytes")
    body = await read_limited(request.content, MAX_BODY_BYTES)
    try:
        line = await witness.add_checkpoint(node, body)
    except OldSizeMismatch as exc:
        log.info("witness_old_size_mismatch", held=exc.size)
        return web.Response(
            status=409, body=f"{exc.size}\n".encode(), headers={"Content-Type": CONTENT_TYPE_SIZE}
        )
    return web.Response(text=line, content_type="text/plain")


@routes.get("/v1/witness/checkpoint")
async def cosigned_checkpoint(request: web.Request) -> web.Response:
    """The log's signed checkpoint with this witness's cosignature; 404 when none."""
    await authenticated_body(request, 0)
    origin = request.query.get("origin", "")
    if not origin or len(origin) > MAX_ORIGIN_CHARS:
        raise Malformed("origin must be a log's origin line")
    note = await witness.cosigned_view(request.app[NODE_KEY], origin)
    if note is None:
        raise NotFound("this witness has cosigned no checkpoint of that log")
    return web.Response(text=note, content_type="text/plain")
