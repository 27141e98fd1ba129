"""The auditor's and the admin's pages: audit log, verification, users, keys, peers."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from typing import Any

from aiohttp import web

from ...core.audit_entry import decode_entry
from ...core.canonical import format_time
from ...core.errors import InvalidRequest, Malformed
from ...core.passwords import hash_password
from ...ops.audit_check import open_read_only, verify_database
from ...ops.keyfiles import load_keyring
from ...ops.provision import rotate_keys
from ...service.node import Node
from ...store import audit, checkpoints, peers, users
from ...store import witness as witness_store
from ..api.audit import CHECKPOINTER_KEY, describe_checkpoint
from ..auth import NODE_KEY, SESSIONS_KEY, User
from .render import page, render

routes = web.RouteTableDef()
PAGE = 50
ROLES = ("investigator", "liaison", "auditor", "admin")
ENVELOPE_FIELDS = ("v", "at", "authority", "action", "actor")
USERNAME = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
MIN_PASSWORD = 12


@routes.get("/audit")
@page("auditor")
async def audit_page(request: web.Request, user: User) -> web.StreamResponse:
    return await _audit(request, verify=None)


@routes.post("/audit/verify")
@page("auditor")
async def audit_verify(request: web.Request, user: User) -> web.StreamResponse:
    """The same read-only check as ``exchange audit verify``, on this node's database."""
    node: Node = request.app[NODE_KEY]
    directory = node.directory.current

    def work() -> dict[str, Any]:
        conn = open_read_only(node.config.database)
        try:
            return verify_database(conn, authority_id=node.me, directory=directory).to_json()
        finally:
            conn.close()

    return await _audit(request, verify=await asyncio.to_thread(work))


async def _audit(request: web.Request, verify: dict[str, Any] | None) -> web.Response:
    node: Node = request.app[NODE_KEY]
    latest = await request.app[CHECKPOINTER_KEY].sign_now()
    try:
        wanted = int(request.query.get("start", "-1"))
    except ValueError as exc:
        raise Malformed("start must be an integer") from exc

    def read(conn: sqlite3.Connection) -> dict[str, Any]:
        size = audit.size(conn)
        start = wanted if 0 <= wanted < size else max(size - PAGE, 0)
        end = min(start + PAGE, size)
        entries = []
        for index, raw in audit.entries(conn, start, end):
            entry = decode_entry(raw)
            fields = [(k, v) for k, v in sorted(entry.items()) if k not in ENVELOPE_FIELDS]
            entries.append({"index": index, "entry": entry, "fields": fields})
        cosigned = checkpoints.latest_cosigned(conn)
        return {
            "size": size,
            "start": start,
            "end": end,
            "entries": list(reversed(entries)),  # newest first
            "checkpoint": describe_checkpoint(conn, latest),
            "cosigned": describe_checkpoint(conn, cosigned) if cosigned else None,
            "alerts": witness_store.alerts(conn),
        }

    state = await node.db.run(read)
    return render(request, "audit.html", verify=verify, page=PAGE, **state)


@routes.get("/admin")
@page("admin")
async def admin_page(request: web.Request, user: User) -> web.StreamResponse:
    node: Node = request.app[NODE_KEY]
    directory = node.directory.current

    def read(conn: sqlite3.Connection) -> dict[str, Any]:
        return {
            "users": [u for u in users.list_users(conn) if not u["disabled"]],
            "peers": peers.status(conn),
            "loaded_at": peers.directory_loaded_at(conn),
        }

    state = await node.db.run(read)
    listed = {p["peer"] for p in state["peers"]}
    for authority in directory.authorities if directory else ():
        if authority.authority_id not in listed and authority.authority_id != node.me:
            state["peers"].append(
                {
                    "peer": authority.authority_id,
                    "backlog": 0,
                    "reachable": "unknown",
                    "last_error": None,
                }
            )
    status = None
    if directory is not None:
        status = {
            "serial": directory.serial,
            "expires_at": format_time(directory.expires_at),
            "loaded_at": state["loaded_at"],
            "entries": len(directory.authorities),
        }
    return render(
        request,
        "admin.html",
        done=request.query.get("done") == "1",
        users=state["users"],
        peers=sorted(state["peers"], key=lambda p: str(p["peer"])),
        keys=[k.public.to_json() for k in node.keys.signing]
        + [k.public.to_json() for k in node.keys.encryption],
        roles=ROLES,
        directory=status,
    )


@routes.post("/admin/users")
@page("admin")
async def admin_add_user(request: web.Request, user: User) -> web.StreamResponse:
    node: Node = request.app[NODE_KEY]
    form = await request.post()
    username = str(form.get("username", "")).strip()
    role = str(form.get("role", ""))
    password = str(form.get("password", ""))
    if role not in ROLES:
        raise Malformed(f"role must be one of {', '.join(ROLES)}")
    if not USERNAME.match(username):
        raise Malformed("a username is 1 to 64 letters, digits, '.', '-' or '_'")
    if len(password) < MIN_PASSWORD:
        raise InvalidRequest(f"a password needs at least {MIN_PASSWORD} characters")
    password_hash = await asyncio.to_thread(hash_password, password)
    now = node.clock.now()
    await node.db.run(
        lambda c: users.add_user(
            c,
            me=node.me,
            username=username,
            password_hash=password_hash,
            role=role,
            actor=user.username,
            now=now,
        )
    )
    raise web.HTTPSeeOther("/admin?done=1")


@routes.post("/admin/users/remove")
@page("admin")
async def admin_remove_user(request: web.Request, user: User) -> web.StreamResponse:
    node: Node = request.app[NODE_KEY]
    form = await request.post()
    username = str(form.get("username", ""))
    if username == user.username:
        raise InvalidRequest("you cannot remove yourself")
    now = node.clock.now()
    await node.db.run(
        lambda c: users.remove_user(c, me=node.me, username=username, actor=user.username, now=now)
    )
    request.app[SESSIONS_KEY].drop_user(username)
    raise web.HTTPSeeOther("/admin?done=1")


@routes.post("/admin/keys/rotate")
@page("admin")
async def admin_rotate(request: web.Request, user: User) -> web.StreamResponse:
    """New keys (audited as key_rotated); the node signs with them once the directory
    publishes them, and authority.json holds what to send to the operator."""
    node: Node = request.app[NODE_KEY]
    await asyncio.to_thread(rotate_keys, node.config.data_dir, clock=node.clock)
    node.keys = await asyncio.to_thread(load_keyring, node.config.keys_dir)
    raise web.HTTPSeeOther("/admin?done=1")
