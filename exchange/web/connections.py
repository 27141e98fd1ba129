"""Connection limits per client address: new connections per minute and open at once.

Requests are limited per authenticated peer (``web/peer/envelopes.py``) and logins per user
name; this gate limits what comes before any authentication: the connections
themselves. Each accepted connection's protocol is wrapped so the gate sees it open
and close. A connection over a limit is not cut silently: its first request gets
``429 rate_limited`` with ``Retry-After`` and ``Connection: close``, so an honest
client knows why and when to come back, and nothing it sent is processed.
Connections already open keep working.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable

import structlog
from aiohttp import web

from ..core.rate_limit import ConnectionGate
from .appkeys import GATE_KEY
from .errors import Handler, error_response

log = structlog.get_logger("exchange.connections")


class _Gated(asyncio.Protocol):
    """Forwards everything to aiohttp's handler; tells the gate of open and close."""

    def __init__(self, inner: asyncio.Protocol, gate: ConnectionGate) -> None:
        self._inner = inner
        self._gate = gate
        self._address = "unknown"

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        peer = transport.get_extra_info("peername")
        if isinstance(peer, tuple) and peer:
            self._address = str(peer[0])
        if not self._gate.opened(id(self._inner), self._address):
            count = self._gate.open_connections(self._address)
            log.warning("connection_refused", address=self._address, open=count)
        self._inner.connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self._gate.closed(id(self._inner), self._address)
        self._inner.connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received()

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()


def gated(
    factory: Callable[[], asyncio.Protocol], gate: ConnectionGate
) -> Callable[[], asyncio.Protocol]:
    """A protocol factory for ``loop.create_server`` that passes through ``gate``."""
    return lambda: _Gated(factory(), gate)


@web.middleware
async def connection_gate(request: web.Request, handler: Handler) -> web.StreamResponse:
    wait = request.app[GATE_KEY].refused(id(request.protocol))
    if wait is None:
        return await handler(request)
    response = error_response(
        "rate_limited", "too many connections from your address: try again later"
    )
    response.headers["Retry-After"] = str(max(1, math.ceil(wait)))
    response.force_close()
    return response
