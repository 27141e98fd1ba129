"""What each process of an authority does when several share one data folder
(``[cluster] active_active``, docs/OPERATIONS.md "Two processes, one authority"):
the duties each run under their lease (``workers/leases.py``); the period keys and
the retention pass in the one process holding the keys folder's lock; and every
process catches up with what another stored (a newer directory, a revocation).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import structlog

from ..ops import period_keys
from ..ops.keyfiles import load_keyring
from ..service.node import Node
from . import housekeeping

log = structlog.get_logger("exchange.cluster")
CATCH_UP_INTERVAL = 2.0  # seconds between looks at what another process stored
# seconds between the writer's rounds: next period's key made, retired KEKs destroyed
PREPARE_INTERVAL = 3600.0

Work = Coroutine[Any, Any, None]


def holder_id() -> str:
    """This process's holder id: where it runs, and random per start (a restarted
    process never holds what its previous run held)."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(6)}"


async def catch_up_forever(node: Node, interval: float = CATCH_UP_INTERVAL) -> None:
    """Install the directory and revocations another process stored, and the keys it
    made (a rotation from the admin page), within seconds."""
    stamp = await asyncio.to_thread(keys_stamp, node.config.keys_dir)
    while True:
        await asyncio.sleep(interval)
        try:
            if await node.directory.catch_up():
                log.info("directory_caught_up", serial=node.directory.held_serial)
        except Exception as exc:  # e.g. the database is busy: the next look catches up
            log.warning("directory_catch_up_failed", error=type(exc).__name__)
        try:
            now = await asyncio.to_thread(keys_stamp, node.config.keys_dir)
            if now != stamp:
                node.keys = await asyncio.to_thread(load_keyring, node.config.keys_dir)
                stamp = now
                log.info("keys_reloaded", signing=node.keys.signing[-1].public.key_id)
        except Exception as exc:  # a key file being replaced: the next look loads it
            log.warning("keys_reload_failed", error=type(exc).__name__)


def keys_stamp(keys_dir: Path) -> tuple[tuple[str, int, int], ...]:
    """The key files as they stand (name, size, modification time): cheap to compare."""
    found = []
    for entry in os.scandir(keys_dir):
        if entry.is_file():
            info = entry.stat()
            found.append((entry.name, info.st_size, info.st_mtime_ns))
    return tuple(sorted(found))


async def keys_writer(
    node: Node, interval: float, retention: Callable[[Node], Work] = housekeeping.retention_daily
) -> None:
    """Write the period keys and run the retention pass once this process holds the
    keys folder's lock (one process at a time; the lock goes with a dead process, so
    another takes over within ``interval``): the next period's key is made ahead of
    time, for the processes that only read the keys."""
    keks = node.vault.keks
    while True:
        if await asyncio.to_thread(keks.try_hold):
            break
        await asyncio.sleep(interval)  # polling a lock no event tells of
    log.info("period_keys_writer")
    task = asyncio.create_task(retention(node), name="retention")
    try:
        while True:
            try:
                await asyncio.to_thread(keks.prepare, node.clock.now())
            except Exception:  # e.g. a full disk: the readers wait, the next round tries
                log.exception("period_key_preparation_failed")
            try:  # the KEKs an erasure retired, once no reader can still be using them
                destroyed = await asyncio.to_thread(
                    period_keys.settle, node.db, node.vault, node.clock, period_keys.READER_GRACE
                )
                if destroyed:
                    log.info("period_keys_destroyed", count=len(destroyed))
            except Exception:  # the next round tries again
                log.exception("period_key_settling_failed")
            await asyncio.sleep(PREPARE_INTERVAL)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
