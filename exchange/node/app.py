"""The node's aiohttp application factory: keys loaded, routes and middlewares set;
the database, the directory and the background workers start in ``cleanup_ctx``."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any

import aiohttp
import structlog
from aiohttp import web

from ..config import ConfigError, NodeConfig
from ..core.clock import Clock, SystemClock
from ..core.keys import KeyRing, SigningKeyPair
from ..core.peer_auth import NonceCache
from ..core.rate_limit import ConnectionGate, RateLimiter
from ..ops import period_keys
from ..ops.data_folder import require_private
from ..ops.keyfiles import load_keyring, load_or_create_audit_key
from ..service import evidence, search, settings
from ..service.directory import DirectoryHolder
from ..service.metrics import Metrics
from ..service.node import Node
from ..service.sessions import LoginGate, SessionCache, Sessions
from ..store.engine import open_database
from ..web import routes
from ..web.appkeys import (
    CLIENT_KEY,
    DEADLINES_KEY,
    GATE_KEY,
    LOGIN_GATE_KEY,
    METRICS_KEY,
    NODE_KEY,
    NONCES_KEY,
    PEER_LIMITER_KEY,
    SESSIONS_KEY,
    TOKEN_KEY,
    WITNESS_KEY,
    WITNESS_LIMITER_KEY,
    WITNESS_SUBMIT_KEY,
    WORKER_KEY,
)
from ..web.connections import connection_gate
from ..web.errors import error_middleware
from ..web.idempotency import idempotency_middleware
from ..web.peer.envelopes import MAX_TRANSACTION_BYTES
from ..web.ui.render import security_headers
from ..workers import directory, housekeeping
from ..workers.checkpointer import Checkpointer
from ..workers.deadlines import DeadlineScheduler
from ..workers.delivery import DeliveryWorker
from ..workers.witness import Witness
from ..workers.witness_submit import WitnessSubmitter

log = structlog.get_logger("exchange.node")


class _Keys:
    """What a node loads before it opens anything: a wrong passphrase fails here."""

    def __init__(self, config: NodeConfig, passphrase: bytes | None, clock: Clock) -> None:
        self.vault = period_keys.open_vault(config, clock, passphrase)
        # kept only until the database is open: replacing an old storage key needs it
        self.passphrase = passphrase
        self.ring: KeyRing = load_keyring(config.keys_dir)
        self.audit: SigningKeyPair = load_or_create_audit_key(config.keys_dir)


def open_node(config: NodeConfig, keys: _Keys, clock: Clock) -> Node:
    """Take the period keys, open the database and assemble the node (no network, no
    tasks): keys still wrapped by the storage key are wrapped under KEKs, and KEKs a
    crash left behind after an erasure are destroyed."""
    keys.vault.keks.hold()
    try:
        db = open_database(config)
    except BaseException:
        keys.vault.keks.release()
        raise
    try:
        adopted = period_keys.adopt(db, keys.vault, clock, keys.passphrase)
        keys.passphrase = None
        destroyed = period_keys.settle(db, keys.vault, clock)
    except BaseException:
        db.close()
        keys.vault.keks.release()
        raise
    if adopted or destroyed:
        log.info("period_keys_settled", keys_adopted=adopted, keys_destroyed=len(destroyed))
    return Node(
        config=config,
        db=db,
        keys=keys.ring,
        audit_key=keys.audit,
        vault=keys.vault,
        directory=DirectoryHolder(
            me=config.authority_id, operator_keys=config.operator_keys, db=db, clock=clock
        ),
        clock=clock,
    )


def create_app(
    config: NodeConfig,
    *,
    clock: Clock | None = None,
    background: bool = True,
    passphrase: bytes | None = None,
) -> web.Application:
    clock = clock or SystemClock()
    require_private(config.data_dir)  # before anything in it is read or opened
    keys = _Keys(config, passphrase, clock)
    limits = config.limits
    app = web.Application(
        middlewares=[security_headers, connection_gate, error_middleware, idempotency_middleware()],
        client_max_size=max(MAX_TRANSACTION_BYTES, limits.max_envelope_bytes * 2),
    )
    app[LOGIN_GATE_KEY] = LoginGate(
        per_minute=limits.logins_per_minute,
        burst=limits.login_burst,
        at_once=limits.password_checks_at_once,
    )
    app[GATE_KEY] = ConnectionGate(
        per_minute=limits.connections_per_minute,
        burst=limits.connection_burst,
        max_open=limits.max_open_connections,
        clock=clock,
    )
    app[PEER_LIMITER_KEY] = RateLimiter(
        per_minute=limits.peer_calls_per_minute, burst=limits.peer_burst
    )
    app[WITNESS_LIMITER_KEY] = RateLimiter(
        per_minute=config.witness.submissions_per_minute, burst=config.witness.submission_burst
    )
    app[NONCES_KEY] = NonceCache()
    app[METRICS_KEY] = Metrics()
    if config.metrics_token_file is not None:
        try:
            app[TOKEN_KEY] = config.metrics_token_file.read_text().strip()
        except OSError as exc:
            raise ConfigError(f"cannot read the metrics token: {exc}") from exc
    routes.register(app)
    app.cleanup_ctx.append(_lifecycle(config, keys, clock, background))
    return app


Task = Callable[[], Coroutine[Any, Any, None]]


def _lifecycle(config: NodeConfig, keys: _Keys, clock: Clock, background: bool):  # type: ignore[no-untyped-def]
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        node = open_node(config, keys, clock)
        app[NODE_KEY] = node
        app[SESSIONS_KEY] = Sessions(node, app[LOGIN_GATE_KEY], SessionCache())
        session = aiohttp.ClientSession()
        app[CLIENT_KEY] = session
        tasks: list[asyncio.Task[None]] = []
        try:
            await node.directory.load_cached()
            await settings.record_changes(node)
            await evidence.forget_reservations(node)
            # search answers index_building until this is done (service/search.py)
            tasks.append(asyncio.create_task(search.build(node), name="search_index"))
            with contextlib.suppress(Exception):
                await directory.refresh(
                    node.directory, config.directory_source, config.data_dir, session
                )
            app[WITNESS_KEY] = witness = Witness(node, session)
            app[WITNESS_SUBMIT_KEY] = submitter = WitnessSubmitter(node, session)
            app[DEADLINES_KEY] = scheduler = DeadlineScheduler(node, session)
            if background:
                worker = DeliveryWorker(node, session, app[METRICS_KEY])
                app[WORKER_KEY] = worker
                node.wake_delivery = worker.wake
                node.wake_deadlines = scheduler.wake
                node.notice_deadline = scheduler.notice
                refresh = directory.refresh_forever(
                    node.directory,
                    config.directory_source,
                    config.data_dir,
                    session,
                    config.directory_refresh.total_seconds(),
                )
                for name, work in (
                    ("checkpoints", Checkpointer(node).run()),
                    ("witness", witness.run()),
                    ("witness_submit", submitter.run()),
                    ("delivery", worker.run()),
                    ("deadlines", scheduler.run()),
                    ("retention", housekeeping.retention_daily(node)),
                    ("sessions", housekeeping.purge_sessions(app[SESSIONS_KEY])),
                    ("directory", refresh),
                ):
                    tasks.append(asyncio.create_task(work, name=name))
            log.info("node_started", authority=node.me)
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await session.close()
            node.db.close()
            keys.vault.keks.release()

    return ctx


def server_ssl_context(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    return context
