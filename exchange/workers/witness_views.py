"""Asking every peer witness for its view of our log (``GET /v1/witness/checkpoint``):
what ``exchange audit verify``, the auditor's "verify now" and the audit bundle compare
the log with. Each answer is kept as obtained (``core.witness_views.ObtainedView``); a
witness that cannot be reached is recorded as such, never left out."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import aiohttp

from ..core.bodies import read_limited
from ..core.canonical import format_time
from ..core.clock import Clock
from ..core.directory import Authority, Directory
from ..core.keys import SigningKeyPair
from ..core.note import MAX_NOTE_BYTES
from ..core.peer_auth import HEADER, sign_call
from ..core.witness import origin_for, witness_key
from ..core.witness_views import ObtainedView
from ..service.node import Node
from .peer_client import pinned

VIEW_PATH = "/v1/witness/checkpoint"


async def fetch_views(
    session: aiohttp.ClientSession,
    *,
    me: str,
    key: SigningKeyPair,
    directory: Directory,
    clock: Clock,
    call_timeout: timedelta,
) -> tuple[ObtainedView, ...]:
    """Every peer witness's view of ``me``'s log, asked at once."""
    peers = [a for a in directory.authorities if a.authority_id != me and witness_key(a)]
    return tuple(
        await asyncio.gather(
            *(
                _fetch(session, me=me, key=key, peer=p, clock=clock, call_timeout=call_timeout)
                for p in peers
            )
        )
    )


async def _fetch(
    session: aiohttp.ClientSession,
    *,
    me: str,
    key: SigningKeyPair,
    peer: Authority,
    clock: Clock,
    call_timeout: timedelta,
) -> ObtainedView:
    path = f"{VIEW_PATH}?origin={origin_for(me)}"
    now = clock.now()
    auth = sign_call(
        method="GET", path=path, sender=me, recipient=peer.authority_id, body=b"", key=key, now=now
    )
    try:
        async with session.get(
            peer.node_url.rstrip("/") + path,
            headers={HEADER: auth},
            ssl=pinned(*peer.tls_pins),
            timeout=aiohttp.ClientTimeout(total=call_timeout.total_seconds()),
        ) as response:
            answer = await read_limited(response.content, MAX_NOTE_BYTES, "witness view")
            obtained_at = format_time(clock.now())
            if response.status == 404:
                return ObtainedView(peer.authority_id, obtained_at)
            if response.status != 200:
                error = f"answered HTTP {response.status}"
                return ObtainedView(peer.authority_id, obtained_at, error=error)
            return ObtainedView(peer.authority_id, obtained_at, note=answer.decode("utf-8"))
    except (aiohttp.ClientError, TimeoutError, UnicodeDecodeError, OSError) as exc:
        return ObtainedView(peer.authority_id, format_time(clock.now()), error=type(exc).__name__)


async def node_views(node: Node, session: aiohttp.ClientSession) -> tuple[ObtainedView, ...]:
    """The peer witnesses' views of this node's log, asked by the node itself."""
    now = node.clock.now()
    return await fetch_views(
        session,
        me=node.me,
        key=node.signing_key(now),
        directory=node.directory.require(),
        clock=node.clock,
        call_timeout=node.config.delivery.request_timeout,
    )
