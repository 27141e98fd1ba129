"""``POST /v1/witness/alerts``: a peer witness's signed alert about a log (ours or
another peer's), authenticated like every peer call. Verified (its signature, its
issuer, the evidence under the watched log's ``audit_vkey``) before anything is kept
(``exchange.service.witness.receive_alert``)."""

from __future__ import annotations

from aiohttp import web

from ...core.witness_alert import MAX_STATEMENT_BYTES
from ...service import witness
from ..appkeys import NODE_KEY
from .envelopes import authenticated_body

routes = web.RouteTableDef()


@routes.post("/v1/witness/alerts")
async def post_witness_alert(request: web.Request) -> web.Response:
    """200 ``{"issuer", "peer", "kind", "recorded": true|false}`` (false: already held)."""
    caller, body = await authenticated_body(request, MAX_STATEMENT_BYTES)
    statement, new = await witness.receive_alert(request.app[NODE_KEY], caller=caller, body=body)
    return web.json_response(
        {"issuer": statement.issuer, "peer": statement.peer, "kind": statement.kind,
         "recorded": new}
    )  # fmt: skip
