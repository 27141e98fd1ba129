"""Audit endpoints. Peer-facing (``/v1/audit/...``, authenticated like every
peer call, metadata only): the latest checkpoint, consistency proofs, and
cosignatures sent back by witnesses. Local (``/api/audit/...``, auditor
role): entries with their exact leaf bytes, inclusion proofs, the latest
checkpoint with its cosignatures, witness alerts, and "verify now"."""

from __future__ import annotations

import asyncio
import sqlite3
from typing import Any

from aiohttp import web

from ...core.audit_entry import decode_entry
from ...core.canonical import b64e, loads_object
from ...core.errors import BadSignature, Malformed, NotFound, TooLarge
from ...core.merkle import consistency_proof, inclusion_proof, root
from ...core.note import add_signatures, format_vkey, parse_note, parse_vkey, verify_cosignature
from ...core.witness import origin_for, witness_name_for
from ...ops.audit_check import open_read_only, verify_database
from ...service.node import Node
from ...store import audit, checkpoints
from ...store import witness as witness_store
from ...store.checkpoints import StoredCheckpoint
from ...workers.checkpointer import Checkpointer
from ..auth import NODE_KEY, User, requires
from ..peer.envelopes import authenticated_body

routes = web.RouteTableDef()
CHECKPOINTER_KEY = web.AppKey("checkpointer", Checkpointer)
MAX_ENTRIES_PER_CALL = 1000
MAX_COSIGNATURE_BYTES = 4096


def _int_param(request: web.Request, name: str, default: int | None = None) -> int:
    raw = request.query.get(name)
    if raw is None:
        if default is None:
            raise Malformed(f"query parameter {name} is required")
        return default
    if not raw.isdigit() or len(raw) > 19:
        raise Malformed(f"{name} must be a non-negative integer")
    return int(raw)


def _with_cosignatures(conn: sqlite3.Connection, stored: StoredCheckpoint) -> str:
    lines = [line for _, line, _ in checkpoints.cosignatures(conn, stored.size)]
    return add_signatures(stored.note, lines) if lines else stored.note


async def _latest_note(request: web.Request) -> str:
    node: Node = request.app[NODE_KEY]
    stored = await request.app[CHECKPOINTER_KEY].sign_now()
    return await node.db.run(lambda c: _with_cosignatures(c, stored))


# --- peers ------------------------------------------------------------------


@routes.get("/v1/audit/checkpoint")
async def peer_checkpoint(request: web.Request) -> web.Response:
    await authenticated_body(request, 0)
    return web.Response(text=await _latest_note(request), content_type="text/plain")


@routes.get("/v1/audit/consistency")
async def peer_consistency(request: web.Request) -> web.Response:
    node: Node = request.app[NODE_KEY]
    await authenticated_body(request, 0)
    old, new = _int_param(request, "from"), _int_param(request, "to")

    def work(c: sqlite3.Connection) -> list[bytes]:
        if not old <= new <= audit.size(c):
            raise Malformed("need 0 <= from <= to <= the log size")
        return consistency_proof(audit.tree(c), old, new)

    proof = await node.db.run(work)
    return web.json_response({"from": old, "to": new, "proof": [b64e(h) for h in proof]})


@routes.post("/v1/audit/cosignature")
async def peer_cosignature(request: web.Request) -> web.Response:
    """``{"size": N, "cosignature": "— exchange/XX/witness base64"}`` from a witness."""
    node: Node = request.app[NODE_KEY]
    caller, body = await authenticated_body(request, MAX_COSIGNATURE_BYTES)
    doc = loads_object(body, max_depth=2)
    size, line = doc.get("size"), doc.get("cosignature")
    if (
        set(doc) != {"size", "cosignature"}
        or not isinstance(size, int)
        or not isinstance(line, str)
    ):
        raise Malformed('body must be {"size": int, "cosignature": str}')
    authority = node.directory.require().get(caller)
    if authority is None or authority.audit_vkey is None:
        raise BadSignature("the caller publishes no audit key in the directory")
    witness_key = parse_vkey(authority.audit_vkey).public_key
    stored = await node.db.run(lambda c: checkpoints.at_size(c, size))
    if stored is None:
        raise NotFound(f"no checkpoint of size {size}")
    text = parse_note(stored.note).text
    signed_at = verify_cosignature(text, line, witness_name_for(caller), witness_key)
    await node.db.run(
        lambda c: checkpoints.add_cosignature(
            c,
            size=size,
            witness=witness_name_for(caller),
            line=line.rstrip("\n"),
            signed_at=signed_at,
        )
    )
    return web.json_response({"ok": True, "size": size, "witness": witness_name_for(caller)})


# --- auditors -----------------------------------------------------------------


@routes.get("/api/audit/entries")
@requires("auditor")
async def api_entries(request: web.Request, user: User) -> web.Response:
    node: Node = request.app[NODE_KEY]
    start = _int_param(request, "start", 0)
    end = _int_param(request, "end", start + 100)
    if end < start:
        raise Malformed("end must not be before start")
    if end - start > MAX_ENTRIES_PER_CALL:
        raise TooLarge(f"at most {MAX_ENTRIES_PER_CALL} entries per call")

    def work(c: sqlite3.Connection) -> dict[str, Any]:
        rows = audit.entries(c, start, end)
        return {
            "size": audit.size(c),
            "entries": [{"index": i, "leaf": b64e(e), "entry": decode_entry(e)} for i, e in rows],
        }

    return web.json_response(await node.db.run(work))


@routes.get("/api/audit/proof")
@requires("auditor")
async def api_proof(request: web.Request, user: User) -> web.Response:
    node: Node = request.app[NODE_KEY]
    index, size = _int_param(request, "index"), _int_param(request, "size")

    def work(c: sqlite3.Connection) -> dict[str, Any]:
        if not index < size <= audit.size(c):
            raise Malformed("need index < size <= the log size")
        store = audit.tree(c)
        proof = inclusion_proof(store, index, size)
        return {
            "index": index,
            "size": size,
            "root": b64e(root(store, size)),
            "proof": [b64e(h) for h in proof],
        }

    return web.json_response(await node.db.run(work))


@routes.get("/api/audit/checkpoint")
@requires("auditor", "admin")
async def api_checkpoint(request: web.Request, user: User) -> web.Response:
    """The latest checkpoint, and the latest one peers have cosigned (with their cosignatures)."""
    node: Node = request.app[NODE_KEY]
    latest = await request.app[CHECKPOINTER_KEY].sign_now()

    def work(c: sqlite3.Connection) -> dict[str, Any]:
        cosigned = checkpoints.latest_cosigned(c)
        return {
            "latest": describe_checkpoint(c, latest),
            "cosigned": describe_checkpoint(c, cosigned) if cosigned else None,
        }

    return web.json_response(await node.db.run(work))


def describe_checkpoint(conn: sqlite3.Connection, stored: StoredCheckpoint) -> dict[str, Any]:
    cosigs = checkpoints.cosignatures(conn, stored.size)
    return {
        "size": stored.size,
        "root": b64e(stored.root),
        "created_at": stored.created_at,
        "note": _with_cosignatures(conn, stored),
        "cosignatures": [{"witness": w, "signed_at": t} for w, _, t in cosigs],
    }


@routes.get("/api/audit/alerts")
@requires("auditor", "admin")
async def api_alerts(request: web.Request, user: User) -> web.Response:
    node: Node = request.app[NODE_KEY]
    return web.json_response({"alerts": await node.db.run(witness_store.alerts)})


@routes.post("/api/audit/verify")
@requires("auditor")
async def api_verify(request: web.Request, user: User) -> web.Response:
    """Run the auditor's check over this node's database file (read-only connection)."""
    node: Node = request.app[NODE_KEY]
    directory = node.directory.current

    def work() -> dict[str, Any]:
        conn = open_read_only(node.config.database)
        try:
            return verify_database(conn, authority_id=node.me, directory=directory).to_json()
        finally:
            conn.close()

    # Its own read-only connection and thread: the node keeps writing meanwhile.
    return web.json_response(await asyncio.to_thread(work))


@routes.get("/api/audit/bundle")
@requires("auditor")
async def api_bundle(request: web.Request, user: User) -> web.Response:
    """Everything needed to verify the log elsewhere: every entry's exact bytes, every
    signed checkpoint and cosignature, and the log's verifier key (no contents exist)."""
    node: Node = request.app[NODE_KEY]

    def work(c: sqlite3.Connection) -> dict[str, Any]:
        size = audit.size(c)
        return {
            "authority_id": node.me,
            "audit_vkey": format_vkey(origin_for(node.me), node.audit_key.public.public),
            "size": size,
            "entries": [b64e(e) for _, e in audit.entries(c, 0, size)],
            "checkpoints": [
                {"size": cp.size, "note": cp.note, "created_at": cp.created_at}
                for cp in checkpoints.all_checkpoints(c)
            ],
            "cosignatures": [
                {"size": size_, "witness": w, "line": line, "signed_at": t}
                for size_, w, line, t in checkpoints.all_cosignatures(c)
            ],
            "witness_alerts": witness_store.alerts(c),
        }

    bundle = await node.db.run(work)
    name = f"audit-bundle-{node.me}-{bundle['size']}.json"
    return web.json_response(
        bundle, headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )
