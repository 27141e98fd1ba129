"""The node's aiohttp application factory and its background tasks."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import structlog
from aiohttp import web

from ..config import ConfigError, NodeConfig, settings_summary
from ..core.clock import Clock, SystemClock
from ..core.rate_limit import RateLimiter
from ..core.vault import Vault
from ..ops.keyfiles import load_keyring, load_or_create_audit_key, load_storage_key
from ..ops.retention import run_pass
from ..service.directory import DirectoryHolder
from ..service.node import Node
from ..store import settings as settings_store
from ..store.db import Database
from ..web import metrics
from ..web.api import audit as audit_api
from ..web.api import deadlines as deadlines_api
from ..web.api import evidence
from ..web.api import requests as api
from ..web.api import stats as stats_api
from ..web.api.audit import CHECKPOINTER_KEY
from ..web.auth import LOGIN_GATE_KEY, NODE_KEY, SESSIONS_KEY, LoginGate, SessionCache
from ..web.connections import GATE_KEY, ConnectionGate, connection_gate
from ..web.errors import error_middleware
from ..web.peer import envelopes as peer
from ..web.peer.envelopes import MAX_TRANSACTION_BYTES
from ..workers.checkpointer import Checkpointer
from ..workers.deadlines import DeadlineScheduler
from ..workers.delivery import DeliveryWorker
from ..workers.witness import Witness

log = structlog.get_logger("exchange.node")
WORKER_KEY = web.AppKey("delivery_worker", DeliveryWorker)
WITNESS_KEY = web.AppKey("witness", Witness)
DEADLINES_KEY = web.AppKey("deadlines", DeadlineScheduler)


def open_node(
    config: NodeConfig, clock: Clock | None = None, passphrase: bytes | None = None
) -> Node:
    """Load keys and open the database (no network, no tasks)."""
    storage_key = load_storage_key(config.keys_dir, passphrase)  # before opening anything
    db = Database(config.database)
    return Node(
        config=config,
        db=db,
        keys=load_keyring(config.keys_dir),
        audit_key=load_or_create_audit_key(config.keys_dir),
        vault=Vault(storage_key),
        directory=DirectoryHolder(
            me=config.authority_id,
            operator_keys=config.operator_keys,
            db=db,
            clock=clock or SystemClock(),
        ),
        clock=clock or SystemClock(),
    )


def create_app(
    config: NodeConfig,
    *,
    clock: Clock | None = None,
    background: bool = True,
    passphrase: bytes | None = None,
) -> web.Application:
    node = open_node(config, clock, passphrase)
    from ..web.ui import routes as ui_routes
    from ..web.ui.render import security_headers

    app = web.Application(
        middlewares=[security_headers, connection_gate, error_middleware],
        client_max_size=max(MAX_TRANSACTION_BYTES, config.limits.max_envelope_bytes * 2),
    )
    app[NODE_KEY] = node
    app[SESSIONS_KEY] = SessionCache()
    app[LOGIN_GATE_KEY] = LoginGate(
        per_minute=config.limits.logins_per_minute,
        burst=config.limits.login_burst,
        at_once=config.limits.password_checks_at_once,
    )
    app[GATE_KEY] = ConnectionGate(
        per_minute=config.limits.connections_per_minute,
        burst=config.limits.connection_burst,
        max_open=config.limits.max_open_connections,
        clock=node.clock,
    )
    app.add_routes(peer.routes)
    app[peer.PEER_LIMITER_KEY] = RateLimiter(
        per_minute=config.limits.peer_calls_per_minute, burst=config.limits.peer_burst
    )
    app.add_routes(api.routes)
    app.add_routes(audit_api.routes)
    app.add_routes(deadlines_api.routes)
    app.add_routes(stats_api.routes)
    app.add_routes(metrics.routes)
    app.add_routes(evidence.routes)
    ui_routes.register(app)
    app[metrics.METRICS_KEY] = metrics.Metrics()
    if config.metrics_token_file is not None:
        try:
            app[metrics.TOKEN_KEY] = config.metrics_token_file.read_text().strip()
        except OSError as exc:
            raise ConfigError(f"cannot read the metrics token: {exc}") from exc
    app[CHECKPOINTER_KEY] = Checkpointer(node)
    app.cleanup_ctx.append(_lifecycle(node, background))
    return app


def _lifecycle(node: Node, background: bool):  # type: ignore[no-untyped-def]
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        await node.directory.load_cached()
        await _record_settings(node)
        session = aiohttp.ClientSession()
        tasks: list[asyncio.Task[None]] = []
        try:
            with contextlib.suppress(Exception):
                await node.directory.refresh(
                    node.config.directory_source, node.config.data_dir, session
                )
            app[WITNESS_KEY] = witness = Witness(node, session)
            app[DEADLINES_KEY] = scheduler = DeadlineScheduler(node, session)
            if background:
                tasks.append(asyncio.create_task(app[CHECKPOINTER_KEY].run(), name="checkpoints"))
                tasks.append(asyncio.create_task(witness.run(), name="witness"))
                worker = DeliveryWorker(node, session, app[metrics.METRICS_KEY])
                app[WORKER_KEY] = worker
                node.wake_delivery = worker.wake
                tasks.append(asyncio.create_task(worker.run(), name="delivery"))
                node.wake_deadlines = scheduler.wake
                node.notice_deadline = scheduler.notice
                tasks.append(asyncio.create_task(scheduler.run(), name="deadlines"))
                tasks.append(asyncio.create_task(_retention_daily(node), name="retention"))
                tasks.append(
                    asyncio.create_task(_refresh_directory(node, session), name="directory")
                )
            log.info("node_started", authority=node.me)
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await session.close()
            node.db.close()

    return ctx


async def _record_settings(node: Node) -> None:
    """Audit a change of settings since the last start (edited node.toml)."""
    summary = settings_summary(node.config)
    changed = await node.db.run(
        lambda c: settings_store.record_settings(
            c, me=node.me, settings=summary, actor="local_admin", now=node.clock.now()
        )
    )
    if changed:
        log.warning("settings_changed", sections=changed)


async def _retention_daily(node: Node) -> None:
    """Crypto-erase what is past its retention period, at start and then daily."""
    while True:
        try:
            await asyncio.to_thread(run_pass, node.db, node.config, node.clock)
        except Exception:  # keep the node running; the next pass tries again
            log.exception("retention_pass_failed")
        await asyncio.sleep(node.config.retention_interval.total_seconds())


async def _refresh_directory(node: Node, session: aiohttp.ClientSession) -> None:
    while True:
        await asyncio.sleep(node.config.directory_refresh.total_seconds())
        try:
            await node.directory.refresh(
                node.config.directory_source, node.config.data_dir, session
            )
        except Exception as exc:  # keep the last good directory; try again next time
            log.warning("directory_refresh_failed", error=type(exc).__name__)


def server_ssl_context(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    return context
