"""``POST /v1/revocations``: an authority's emergency revocation statement.

Not a signed peer call: the statement carries its own signature, by the authority's
offline revocation key, which matters when a thief may hold the node's signing keys.
So the call is rate-limited by address and its body is never read past the size of
a statement; then the statement is verified against the directory and takes effect
at once (``exchange.service.revocations``).
"""

from __future__ import annotations

import structlog
from aiohttp import web

from ...core.bodies import read_limited
from ...core.errors import TooLarge
from ...core.revocation import MAX_STATEMENT_BYTES
from ...service import revocations
from ..appkeys import NODE_KEY, PEER_LIMITER_KEY

log = structlog.get_logger("exchange.revocation")
routes = web.RouteTableDef()


@routes.post("/v1/revocations")
async def post_revocation(request: web.Request) -> web.Response:
    """200 ``{"authority", "key_id", "recorded": true|false}`` (false: already held)."""
    node = request.app[NODE_KEY]
    request.app[PEER_LIMITER_KEY].take(f"revocation:{request.remote}", node.clock.now())
    if request.content_length is not None and request.content_length > MAX_STATEMENT_BYTES:
        raise TooLarge(f"a revocation statement is at most {MAX_STATEMENT_BYTES} bytes")
    body = await read_limited(request.content, MAX_STATEMENT_BYTES)
    statement, changed = await revocations.receive(node, body)
    return web.json_response(
        {"authority": statement.authority, "key_id": statement.key_id, "recorded": changed}
    )
