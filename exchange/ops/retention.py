"""Running retention: erase what is due (store), then delete the orphaned blob files.

Used by ``exchange retention run`` and by the node's daily pass.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import structlog

from ..config import NodeConfig
from ..core.canonical import JsonObject
from ..core.clock import Clock
from ..store import retention as store
from ..store.db import Database

log = structlog.get_logger("exchange.retention")


def run_pass(
    db: Database, config: NodeConfig, clock: Clock, *, dry_run: bool = False
) -> JsonObject:
    now = clock.now()
    result = db.run_sync(
        lambda c: store.erase(
            c, me=config.authority_id, policy=config.retention, now=now, dry_run=dry_run
        )
    )
    deleted = 0 if dry_run else delete_blobs(db, config.data_dir / "blobs", result.blobs)
    summary = {
        "dry_run": dry_run,
        "requests_erased": len(result.requests),
        "request_ids": result.requests,
        "messages_erased": result.messages,
        "files_erased": result.attachments,
        "unsent_uploads_purged": result.uploads,
        "blob_files_deleted": deleted,
    }
    if result.requests or result.uploads:
        log.info("retention_pass", **{k: v for k, v in summary.items() if k != "request_ids"})
    return summary


def delete_blobs(db: Database, folder: Path, blobs: list[str]) -> int:
    needed = db.run_sync(lambda c: store.blobs_still_needed(c, blobs))
    deleted = 0
    for blob in set(blobs) - needed:
        with contextlib.suppress(FileNotFoundError):
            (folder / blob).unlink()
            deleted += 1
    return deleted
