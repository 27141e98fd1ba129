"""``PUT /v1/blobs/{sha256}``: a sender's delivery worker uploads the blobs of a
message before the message; authenticated like every peer call, with the body's
hash in the signature; checked while it streams; idempotent."""

from __future__ import annotations

from collections.abc import AsyncIterator

import structlog
from aiohttp import web

from ...core.evidence import CHUNK
from ...service import evidence
from ..appkeys import NODE_KEY
from .envelopes import authenticate

log = structlog.get_logger("exchange.evidence")
routes = web.RouteTableDef()


async def _body(request: web.Request) -> AsyncIterator[bytes]:
    while chunk := await request.content.read(CHUNK):
        yield chunk


@routes.put("/v1/blobs/{sha256}")
async def put_blob(request: web.Request) -> web.Response:
    node = request.app[NODE_KEY]
    expected = request.match_info["sha256"]
    evidence.blob_path(node, expected)  # a well-formed name before anything else
    caller = authenticate(request, body_sha256=expected)
    size = await evidence.store_blob(
        node, expected, _body(request), peer=caller, size_hint=request.content_length
    )
    if size:
        log.info("blob_received", peer=caller, size=size)
    return web.json_response({"stored": expected})
