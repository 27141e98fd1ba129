"""Periodic housekeeping: the retention pass and expired private keys (daily), expired
sessions and Idempotency-Keys (hourly)."""

from __future__ import annotations

import asyncio

import structlog

from ..ops.provision import delete_expired_keys
from ..ops.retention import run_pass
from ..service import evidence, idempotency, search
from ..service.node import Node
from ..service.sessions import Sessions

log = structlog.get_logger("exchange.housekeeping")
SESSION_PURGE_INTERVAL = 3600.0  # seconds


async def retention_daily(node: Node) -> None:
    """Crypto-erase what is past its retention period and collect the blob files no
    message names past their grace, at start and then daily."""
    while True:
        try:
            await asyncio.to_thread(run_pass, node.db, node.config, node.clock, node.vault)
            await search.after_erasure(node)
        except Exception:  # keep the node running; the next pass tries again
            log.exception("retention_pass_failed")
        await expired_keys(node)
        await asyncio.sleep(node.config.retention_interval.total_seconds())


async def expired_keys(node: Node) -> None:
    """Delete private key files past their not_after (plus a grace), each audited."""
    try:
        deleted = await asyncio.to_thread(delete_expired_keys, node.db, node.config, node.clock)
    except Exception:  # e.g. a read-only keys folder: the next pass tries again
        log.exception("expired_key_deletion_failed")
        return
    for key_id in deleted:
        log.info("expired_key_deleted", key_id=key_id)


async def purge_sessions(sessions: Sessions) -> None:
    """Delete expired sessions, at start and then hourly (an expired one never logs
    anyone in; this keeps the table from growing and drops tokens no one needs); and
    the Idempotency-Keys past their expiry, which no longer answer anything."""
    while True:
        try:
            await sessions.purge_expired()
        except Exception:  # e.g. the disk is full for a moment: try again next round
            log.exception("session_purge_failed")
        try:
            await idempotency.collect(sessions.node)
        except Exception:  # as above: the next round collects them
            log.exception("idempotency_collection_failed")
        if sessions.node.config.cluster.active_active:  # a dead process's leftovers
            try:
                await evidence.forget_reservations(sessions.node)
            except Exception:  # as above
                log.exception("reservation_collection_failed")
        await asyncio.sleep(SESSION_PURGE_INTERVAL)
