"""Periodic housekeeping: the retention pass (daily) and expired sessions (hourly)."""

from __future__ import annotations

import asyncio

import structlog

from ..ops.retention import run_pass
from ..service.node import Node
from ..service.sessions import Sessions

log = structlog.get_logger("exchange.housekeeping")
SESSION_PURGE_INTERVAL = 3600.0  # seconds


async def retention_daily(node: Node) -> None:
    """Crypto-erase what is past its retention period, at start and then daily."""
    while True:
        try:
            await asyncio.to_thread(run_pass, node.db, node.config, node.clock)
        except Exception:  # keep the node running; the next pass tries again
            log.exception("retention_pass_failed")
        await asyncio.sleep(node.config.retention_interval.total_seconds())


async def purge_sessions(sessions: Sessions) -> None:
    """Delete expired sessions, at start and then hourly (an expired one never logs
    anyone in; this keeps the table from growing and drops tokens no one needs)."""
    while True:
        try:
            await sessions.purge_expired()
        except Exception:  # e.g. the disk is full for a moment: try again next round
            log.exception("session_purge_failed")
        await asyncio.sleep(SESSION_PURGE_INTERVAL)
