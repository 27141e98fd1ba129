"""Calling a peer node: authenticated both ways and bounded in time and size.

The caller signs each call with ``X-Exchange-Auth`` (the peer checks it
against the directory); the peer's TLS certificate is pinned to the
fingerprint in the directory, so no CA is trusted. Every call has a total
timeout. A non-200 answer becomes an ``ExchangeError`` with the peer's code.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json

import aiohttp

from ..core.bodies import read_limited
from ..core.directory import Authority
from ..core.errors import ExchangeError
from ..core.peer_auth import HEADER, sign_call
from ..service.node import Node

MAX_ANSWER_BYTES = 32 * 1024 * 1024


class PinSet(aiohttp.Fingerprint):
    """aiohttp's certificate pinning, accepting any of a few SHA-256 fingerprints (a
    node's current certificate and the next one it announced)."""

    def __init__(self, fingerprints: tuple[bytes, ...]) -> None:
        super().__init__(fingerprints[0])
        self._allowed = frozenset(fingerprints)

    def check(self, transport: asyncio.Transport) -> None:
        if not transport.get_extra_info("sslcontext"):
            return
        sslobj = transport.get_extra_info("ssl_object")
        got = hashlib.sha256(sslobj.getpeercert(binary_form=True)).digest()
        if got not in self._allowed:
            host, port, *_ = transport.get_extra_info("peername")
            raise aiohttp.ServerFingerprintMismatch(self.fingerprint, got, host, port)


@functools.lru_cache(maxsize=4096)
def pinned(*fingerprints_hex: str) -> aiohttp.Fingerprint:
    """One object per set of pins: aiohttp pools connections by this object, so a new
    one per call would mean a new TLS handshake per call."""
    return PinSet(tuple(bytes.fromhex(f) for f in fingerprints_hex))


async def call_peer(
    node: Node,
    session: aiohttp.ClientSession,
    peer: Authority,
    method: str,
    path: str,
    *,
    body: bytes = b"",
    content_type: str = "application/json",
) -> bytes:
    """Make one call; return the answer body of a 200, or raise ``ExchangeError``."""
    now = node.clock.now()
    auth = sign_call(
        method=method,
        path=path,
        sender=node.me,
        recipient=peer.authority_id,
        body=body,
        key=node.signing_key(now),
        now=now,
    )
    limit = node.config.delivery.request_timeout.total_seconds()
    async with session.request(
        method,
        peer.node_url.rstrip("/") + path,
        data=body if method != "GET" else None,
        headers={HEADER: auth, "Content-Type": content_type},
        ssl=pinned(*peer.tls_pins),
        timeout=aiohttp.ClientTimeout(total=limit),
    ) as response:
        answer = await read_limited(response.content, MAX_ANSWER_BYTES, "peer answer")
        if response.status != 200:
            raise _peer_error(response.status, answer)
        return answer


class PeerAnswered(ExchangeError):
    """The peer answered with an HTTP error: ``status`` says which (the witness tells
    a busy or failing peer, 429 and 5xx, from one refusing, any other 4xx)."""

    def __init__(self, message: str, *, code: str, status: int) -> None:
        super().__init__(message, code=code)
        self.status = status


def _peer_error(status: int, answer: bytes) -> ExchangeError:
    try:
        error = json.loads(answer).get("error", {})
        code, message = str(error.get("code", "http")), str(error.get("message", ""))
    except (ValueError, AttributeError):
        code, message = "http", ""
    return PeerAnswered(
        message[:300] or f"peer answered HTTP {status}", code=code[:40], status=status
    )
