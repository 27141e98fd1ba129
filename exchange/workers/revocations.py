"""Sending an emergency revocation statement straight to every peer of the
directory (``exchange keys send-revocation``): ``POST /v1/revocations`` to each node,
its TLS certificate pinned from the directory, each attempt audited
(``revocation_sent``) with its outcome."""

from __future__ import annotations

import asyncio
import functools
import json

import aiohttp
import structlog

from ..config import NodeConfig
from ..core.bodies import read_limited
from ..core.clock import Clock
from ..core.directory import Authority
from ..core.errors import InvalidRequest
from ..core.revocation import RevocationStatement, verify_statement
from ..service.directory import DirectoryHolder
from ..store import revocations
from ..store.engine import open_database
from .peer_client import pinned

log = structlog.get_logger("exchange.revocation")
TIMEOUT = aiohttp.ClientTimeout(total=20)


async def send_revocation(
    config: NodeConfig, document: bytes, *, clock: Clock
) -> tuple[RevocationStatement, dict[str, str]]:
    """Verify ``document`` against the directory this node holds (it must be this
    authority's own, signed by the revocation key its entry names), keep it, and send
    it to every other authority; returns each peer's outcome (``ok`` or an error code).
    """
    db = open_database(config)
    try:
        holder = DirectoryHolder(
            me=config.authority_id, operator_keys=config.operator_keys, db=db, clock=clock
        )
        await holder.load_cached()
        directory = holder.held()
        now = clock.now()
        statement = verify_statement(document, directory=directory, now=now)
        if statement.authority != config.authority_id:
            raise InvalidRequest(f"the statement is {statement.authority}'s, not this node's")
        await db.run(
            lambda c: revocations.record(
                c, me=config.authority_id, authority=statement.authority,
                key_id=statement.key_id, revoked_at=statement.revoked_at,
                issued_at=statement.issued_at, statement=document, now=now,
            )
        )  # fmt: skip
        peers = [a for a in directory.authorities if a.authority_id != config.authority_id]
        async with aiohttp.ClientSession() as session:
            outcomes = await asyncio.gather(*(_send(session, p, document) for p in peers))
        results = dict(zip((p.authority_id for p in peers), outcomes, strict=True))
        for peer, outcome in results.items():
            await db.run(
                functools.partial(
                    revocations.record_sent, me=config.authority_id, key_id=statement.key_id,
                    peer=peer, outcome=outcome, now=clock.now(),
                )
            )  # fmt: skip
        return statement, results
    finally:
        db.close()


async def _send(session: aiohttp.ClientSession, peer: Authority, document: bytes) -> str:
    try:
        async with session.post(
            peer.node_url.rstrip("/") + "/v1/revocations",
            data=document,
            headers={"Content-Type": "application/json"},
            ssl=pinned(*peer.tls_pins),
            timeout=TIMEOUT,
        ) as response:
            answer = await read_limited(response.content, 4096, "peer answer")
            if response.status == 200:
                return "ok"
            log.warning("revocation_not_accepted", peer=peer.authority_id, status=response.status)
            return _code(answer) or f"http_{response.status}"
    except (aiohttp.ClientError, TimeoutError) as exc:
        log.warning("revocation_not_sent", peer=peer.authority_id, error=type(exc).__name__)
        return "unreachable"


def _code(answer: bytes) -> str | None:
    try:
        code = json.loads(answer)["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return None
    return str(code)[:40] if isinstance(code, str) else None
