"""Start a node's HTTPS server (used by ``exchange node``, the demo and the tests)."""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass

from aiohttp import web

from ..config import NodeConfig
from ..core.clock import Clock
from .app import create_app, server_ssl_context
from .auth import NODE_KEY
from .connections import GATE_KEY, gated
from .service import Node


@dataclass
class RunningNode:
    app: web.Application
    runner: web.AppRunner
    server: asyncio.Server

    @property
    def node(self) -> Node:
        return self.app[NODE_KEY]

    async def stop(self) -> None:
        self.server.close()  # no new connections; the runner closes the open ones
        await self.runner.cleanup()
        await self.server.wait_closed()


async def start_node(
    config: NodeConfig,
    *,
    clock: Clock | None = None,
    sock: socket.socket | None = None,
    background: bool = True,
    passphrase: bytes | None = None,
) -> RunningNode:
    app = create_app(config, clock=clock, background=background, passphrase=passphrase)
    runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
    await runner.setup()
    context = server_ssl_context(config.tls_cert, config.tls_key)
    assert runner.server is not None
    # Our own listening socket instead of a TCPSite, so that every connection passes
    # the per-address gate (node/connections.py) before aiohttp's handler sees it.
    factory = gated(runner.server, app[GATE_KEY])
    loop = asyncio.get_running_loop()
    if sock is not None:
        server = await loop.create_server(factory, sock=sock, ssl=context)
    else:
        server = await loop.create_server(
            factory, config.listen_host, config.listen_port, ssl=context, reuse_address=True
        )
    return RunningNode(app, runner, server)
