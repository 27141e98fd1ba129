"""The auditor's local API (``/api/audit/...``): entries with their exact leaf bytes,
inclusion proofs, the latest checkpoint with its cosignatures, witness alerts, the
bundle to verify elsewhere, and "verify now". Metadata only."""

from __future__ import annotations

from aiohttp import web

from ...core.errors import Malformed, TooLarge
from ...core.roles import Role
from ...service import audit, witness
from ...service.sessions import User
from ...workers.witness_views import node_views
from ..appkeys import CLIENT_KEY, NODE_KEY
from ..auth import requires
from ..params import int_param, page_size

routes = web.RouteTableDef()
MAX_ENTRIES_PER_CALL = 1000


@routes.get("/api/audit/entries")
@requires(Role.AUDITOR)
async def api_entries(request: web.Request, user: User) -> web.Response:
    node = request.app[NODE_KEY]
    start = int_param(request, "start", 0)
    end = int_param(request, "end", start + 100)
    if end < start:
        raise Malformed("end must not be before start")
    if end - start > MAX_ENTRIES_PER_CALL:
        raise TooLarge(f"at most {MAX_ENTRIES_PER_CALL} entries per call")
    found = await audit.entries(node, start, end)
    return web.json_response({"size": found.size, "entries": [e.to_json() for e in found.entries]})


@routes.get("/api/audit/proof")
@requires(Role.AUDITOR)
async def api_proof(request: web.Request, user: User) -> web.Response:
    node = request.app[NODE_KEY]
    index, size = int_param(request, "index"), int_param(request, "size")
    return web.json_response((await audit.inclusion(node, index, size)).to_json())


@routes.get("/api/audit/checkpoint")
@requires(Role.AUDITOR, Role.ADMIN)
async def api_checkpoint(request: web.Request, user: User) -> web.Response:
    """The latest checkpoint, and the latest one peers have cosigned (with their cosignatures)."""
    node = request.app[NODE_KEY]
    return web.json_response((await audit.checkpoint_status(node)).to_json())


@routes.get("/api/audit/alerts")
@requires(Role.AUDITOR, Role.ADMIN)
async def api_alerts(request: web.Request, user: User) -> web.Response:
    """A page of witness alerts, newest first; ``next`` goes on."""
    q = request.query
    page = await audit.witness_alerts(
        request.app[NODE_KEY], cursor=q.get("cursor"), limit=page_size(q)
    )
    return web.json_response({"alerts": [a.to_json() for a in page.rows], "next": page.next})


@routes.get("/api/audit/received-alerts")
@requires(Role.AUDITOR, Role.ADMIN)
async def api_received_alerts(request: web.Request, user: User) -> web.Response:
    """A page of the alerts other witnesses signed and sent us, newest first."""
    q = request.query
    page = await witness.received_alerts(
        request.app[NODE_KEY], cursor=q.get("cursor"), limit=page_size(q)
    )
    return web.json_response({"alerts": [a.to_json() for a in page.rows], "next": page.next})


@routes.post("/api/audit/verify")
@requires(Role.AUDITOR)
async def api_verify(request: web.Request, user: User) -> web.Response:
    """Run the auditor's check over this node's database file (read-only connection)."""
    node = request.app[NODE_KEY]
    views = await node_views(node, request.app[CLIENT_KEY])
    return web.json_response(await audit.verify_now(node, views))


@routes.get("/api/audit/bundle")
@requires(Role.AUDITOR)
async def api_bundle(request: web.Request, user: User) -> web.Response:
    """Everything needed to verify the log elsewhere: every entry's exact bytes, every
    signed checkpoint and cosignature, and the log's verifier key (no contents exist)."""
    node = request.app[NODE_KEY]
    bundle = await audit.bundle(node, await node_views(node, request.app[CLIENT_KEY]))
    name = f"audit-bundle-{node.me}-{bundle['size']}.json"
    return web.json_response(
        bundle, headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )
