"""Start a node's HTTPS server (used by ``exchange node``, the demo and the tests)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import ssl
from dataclasses import dataclass

import structlog
from aiohttp import web

from ..config import NodeConfig
from ..core.clock import Clock
from ..ops.keyfiles import tls_fingerprint
from ..runloop import Timer, every
from ..service.node import Node
from ..web.appkeys import GATE_KEY, NODE_KEY
from ..web.connections import gated
from .app import create_app, server_ssl_context

log = structlog.get_logger("exchange.node")


# How often the node looks whether its certificate file was replaced
# (`exchange keys rotate --tls --activate`). Every node of a process looks on the same
# shared timer (``runloop.every``), not from a sleeping task of its own.
CERT_CHECK_SECONDS = 5.0


@dataclass
class RunningNode:
    app: web.Application
    runner: web.AppRunner
    server: asyncio.Server
    context: ssl.SSLContext
    config: NodeConfig
    watcher: Timer | None = None
    _stamp: tuple[int, int, int] | None = None
    # the certificate's path as a string, made once: the watcher looks at it every
    # CERT_CHECK_SECONDS, and building it from the config each time (three pathlib
    # joins) was most of that look (1,000 nodes: ~8 s of CPU in a 200 s run)
    _cert_file: str = ""

    @property
    def node(self) -> Node:
        return self.app[NODE_KEY]

    def reload_certificate(self) -> bool:
        """Serve ``keys/tls.crt`` again if it was replaced; True when it changed.

        New connections get the new certificate, open ones keep theirs: no restart
        and no dropped connection. The pair is loaded into a fresh context first, so a
        half-written or mismatched pair is refused and the current one kept.
        """
        try:
            stamp = _file_stamp(self._cert_file or str(self.config.tls_cert))
            if stamp == self._stamp:
                return False
            cert, key = self.config.tls_cert, self.config.tls_key
            server_ssl_context(cert, key)  # the new pair loads, and the key matches
            self.context.load_cert_chain(cert, key)
        except (OSError, ssl.SSLError) as exc:  # (a file missing in mid-rotation too)
            log.warning("tls_reload_failed", error=type(exc).__name__)
            return False
        self._stamp = stamp
        log.info("tls_certificate_loaded", fingerprint=tls_fingerprint(cert))
        return True

    async def stop(self) -> None:
        if self.watcher is not None:
            self.watcher.cancel()
            self.watcher = None
        self.server.close()  # no new connections; the runner closes the open ones
        await self.runner.cleanup()
        await self.server.wait_closed()


def _file_stamp(path: str) -> tuple[int, int, int]:
    info = os.stat(path)
    return info.st_ino, info.st_mtime_ns, info.st_size


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
    running = RunningNode(app, runner, server, context, config)
    running._cert_file = str(config.tls_cert)
    running._stamp = _file_stamp(running._cert_file)
    running.watcher = every(CERT_CHECK_SECONDS, running.reload_certificate)
    return running


async def wait_for_signal() -> None:
    """Until SIGINT or SIGTERM: how ``exchange node`` and the demo keep running."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
