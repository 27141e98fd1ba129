"""Running retention: erase what is due and rotate the KEKs involved (store), then,
once that is durable, destroy the old KEK files, delete the orphaned blob files and
truncate the WAL.

Used by ``exchange retention run`` and by the node's daily pass.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from pathlib import Path

import structlog

from ..config import NodeConfig
from ..core.canonical import JsonObject
from ..core.clock import Clock
from ..core.vault import Vault
from ..store import period_keys
from ..store import retention as store
from ..store.db import Database
from .period_keys import settle

log = structlog.get_logger("exchange.retention")


def _no_step(step: str) -> None:
    pass


def run_pass(
    db: Database,
    config: NodeConfig,
    clock: Clock,
    vault: Vault,
    *,
    dry_run: bool = False,
    step: Callable[[str], None] = _no_step,
) -> JsonObject:
    """``step`` is told each step as it is reached ("kek_written", "committed",
    "keys_destroyed"): a test stops there the way a crash would."""
    now = clock.now()
    result = db.run_sync(
        lambda c: store.erase(
            c, me=config.authority_id, policy=config.retention, now=now, vault=vault,
            dry_run=dry_run, step=step,
        )
    )  # fmt: skip
    destroyed: list[str] = []
    deleted = 0
    if not dry_run:
        step("committed")
        destroyed = settle(db, vault, clock)
        step("keys_destroyed")
        deleted = delete_blobs(db, config.data_dir / "blobs", result.blobs)
        truncate_wal(db)
    summary = {
        "dry_run": dry_run,
        "requests_erased": len(result.requests),
        "request_ids": result.requests,
        "messages_erased": result.messages,
        "files_erased": result.attachments,
        "unsent_uploads_purged": result.uploads,
        "blob_files_deleted": deleted,
        "keys_rewrapped": result.keys_rewrapped,
        "keys_destroyed": len(destroyed),
    }
    if result.requests or result.uploads or destroyed:
        log.info("retention_pass", **{k: v for k, v in summary.items() if k != "request_ids"})
    return summary


def truncate_wal(db: Database, *, tries: int = 25, pause: float = 0.2) -> bool:
    """The WAL copied into the database and cut to zero bytes, so that no page from
    before the erasure stays in it. A reader (an online backup) can hold it up: try a
    few times, then leave it to the next pass and say so."""
    for attempt in range(tries):
        busy, _, _ = db.run_outside_transaction(period_keys.checkpoint_wal)
        if not busy:
            return True
        if attempt + 1 < tries:
            time.sleep(pause)  # a worker thread's wait, not the event loop's
    log.warning("wal_checkpoint_busy", tries=tries)
    return False


def delete_blobs(db: Database, folder: Path, blobs: list[str]) -> int:
    needed = db.run_sync(lambda c: store.blobs_still_needed(c, blobs))
    deleted = 0
    for blob in set(blobs) - needed:
        with contextlib.suppress(FileNotFoundError):
            (folder / blob).unlink()
            deleted += 1
    return deleted
