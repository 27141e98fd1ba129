"""The audit log for peers (``/v1/audit/...``), authenticated like every peer call,
metadata only: the latest checkpoint, consistency proofs, and the cosignatures that
witnesses send back."""

from __future__ import annotations

from aiohttp import web

from ...core.canonical import b64e, loads_canonical
from ...core.errors import Malformed
from ...service import audit
from ..appkeys import NODE_KEY
from ..params import int_param
from .envelopes import authenticated_body

routes = web.RouteTableDef()
MAX_COSIGNATURE_BYTES = 4096


@routes.get("/v1/audit/checkpoint")
async def peer_checkpoint(request: web.Request) -> web.Response:
    await authenticated_body(request, 0)
    note = await audit.latest_note(request.app[NODE_KEY])
    return web.Response(text=note, content_type="text/plain")


@routes.get("/v1/audit/consistency")
async def peer_consistency(request: web.Request) -> web.Response:
    await authenticated_body(request, 0)
    old, new = int_param(request, "from"), int_param(request, "to")
    proof = await audit.consistency(request.app[NODE_KEY], old, new)
    return web.json_response({"from": old, "to": new, "proof": [b64e(h) for h in proof]})


@routes.post("/v1/audit/cosignature")
async def peer_cosignature(request: web.Request) -> web.Response:
    """``{"size": N, "cosignature": "— exchange/XX/witness base64"}`` from a witness."""
    node = request.app[NODE_KEY]
    caller, body = await authenticated_body(request, MAX_COSIGNATURE_BYTES)
    doc = loads_canonical(body, max_depth=2, what="cosignature body")
    size, line = doc.get("size"), doc.get("cosignature")
    if (
        set(doc) != {"size", "cosignature"}
        or not isinstance(size, int)
        or not isinstance(line, str)
    ):
        raise Malformed('body must be {"size": int, "cosignature": str}')
    witness = await audit.accept_cosignature(node, caller=caller, size=size, line=line)
    return web.json_response({"ok": True, "size": size, "witness": witness})
