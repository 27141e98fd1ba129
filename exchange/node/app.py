"""The node's aiohttp application factory: keys loaded, routes and middlewares set;
the database, the directory and the background workers start in ``cleanup_ctx``."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator, Callable, Coroutine
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import structlog
from aiohttp import web

from ..config import ConfigError, NodeConfig
from ..core.clock import Clock, SystemClock
from ..core.keys import KeyRing, SigningKeyPair
from ..core.lease import LeaseTiming
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
    LEASES_KEY,
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
from ..workers.cluster import catch_up_forever, holder_id, keys_writer
from ..workers.deadlines import DeadlineScheduler
from ..workers.delivery import DeliveryWorker
from ..workers.leases import Duty, LeaseKeeper
from ..workers.witness import Witness
from ..workers.witness_submit import WitnessSubmitter

log = structlog.get_logger("exchange.node")
POLL_DEADLINES = 10.0  # seconds: a deadline another process queued is swept this soon


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
    # Several processes on one data folder (active-active): the first writes the period
    # keys, the others read them (workers/cluster.keys_writer takes over from a dead one).
    if config.cluster.active_active:
        writer = keys.vault.keks.try_hold()
    else:
        keys.vault.keks.hold()
        writer = True
    try:
        db = open_database(config)
    except BaseException:
        keys.vault.keks.release()
        raise
    try:
        adopted, destroyed = 0, []
        if writer:
            adopted = period_keys.adopt(db, keys.vault, clock, keys.passphrase)
            grace = period_keys.READER_GRACE if config.cluster.active_active else None
            destroyed = period_keys.settle(db, keys.vault, clock, grace)
        keys.passphrase = None
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
        cluster = config.cluster
        # several processes: a logout or a role change in one holds in the other at once
        cache = SessionCache(ttl=timedelta(0)) if cluster.active_active else SessionCache()
        app[SESSIONS_KEY] = Sessions(node, app[LOGIN_GATE_KEY], cache)
        timing = LeaseTiming(cluster.lease_ttl, cluster.lease_renew, cluster.lease_margin)
        keeper = LeaseKeeper(node, holder_id(), timing, shared=cluster.active_active)
        app[LEASES_KEY] = keeper
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
                worker = DeliveryWorker(node, session, app[METRICS_KEY], keeper=keeper)
                app[WORKER_KEY] = worker
                node.wake_delivery = worker.wake
                node.wake_deadlines = scheduler.wake
                node.notice_deadline = scheduler.notice
                duties: dict[str, Duty] = {
                    "checkpoints": lambda g: Checkpointer(node, g.write_fence).run(),
                    "witness": lambda _: witness.run(),
                    "witness_submit": lambda _: submitter.run(),
                    "deadlines": lambda _: scheduler.run(),
                    "sessions": lambda _: housekeeping.purge_sessions(app[SESSIONS_KEY]),
                    "directory": lambda _: directory.refresh_forever(
                        node.directory,
                        config.directory_source,
                        config.data_dir,
                        session,
                        config.directory_refresh.total_seconds(),
                    ),
                }
                work: dict[str, Coroutine[Any, Any, None]] = {"delivery": worker.run()}
                if cluster.active_active:
                    scheduler.max_wait = min(scheduler.max_wait, POLL_DEADLINES)
                    every = cluster.lease_renew.total_seconds()
                    work["leases"] = keeper.run()
                    work["retention"] = keys_writer(node, every)
                    work["directory_catch_up"] = catch_up_forever(node)
                    work.update({name: keeper.hold(name, duty) for name, duty in duties.items()})
                else:  # one process: every duty is this one's, nothing to hold
                    work["retention"] = housekeeping.retention_daily(node)
                    work.update({name: duty(keeper.local(name)) for name, duty in duties.items()})
                for name, coroutine in work.items():
                    tasks.append(asyncio.create_task(coroutine, name=name))
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
    # No TLS 1.3 session tickets (OpenSSL sends two after every handshake): no client
    # of ours resumes a session (asyncio cannot hand one back to a new connection;
    # peers keep connections open instead), so each ticket was sealed, sent, parsed
    # and kept for nothing: ~0.08 of the ~0.9 ms of CPU a handshake costs both ends.
    context.num_tickets = 0
    context.load_cert_chain(cert, key)
    return context
