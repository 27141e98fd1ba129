"""Start a node's HTTPS server (used by ``exchange node``, the demo and the tests)."""

from __future__ import annotations

import socket
from dataclasses import dataclass

from aiohttp import web

from ..config import NodeConfig
from ..core.clock import Clock
from .app import create_app, server_ssl_context
from .auth import NODE_KEY
from .service import Node


@dataclass
class RunningNode:
    app: web.Application
    runner: web.AppRunner

    @property
    def node(self) -> Node:
        return self.app[NODE_KEY]

    async def stop(self) -> None:
        await self.runner.cleanup()


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
    site: web.BaseSite
    if sock is not None:
        site = web.SockSite(runner, sock, ssl_context=context)
    else:
        site = web.TCPSite(runner, config.listen_host, config.listen_port, ssl_context=context)
    await site.start()
    return RunningNode(app, runner)
