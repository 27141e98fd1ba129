"""Running retention: erase what is due and rotate the KEKs involved (store), then,
once that is durable, destroy the old KEK files, delete the orphaned blob files, collect
the blob files no attachment names once their grace period is over, and truncate the
WAL last.

Used by ``exchange retention run`` and by the node's daily pass.
"""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import structlog

from ..config import NodeConfig
from ..core.canonical import JsonObject
from ..core.clock import Clock
from ..core.evidence import partial_blob_name, resumable_upload_name
from ..core.vault import Vault
from ..store import audit, blob_parts, blobs, period_keys, uploads
from ..store import retention as store
from ..store.db import Database, transaction
from .period_keys import READER_GRACE, settle

log = structlog.get_logger("exchange.retention")
LISTED = 100  # blob hashes named in one audit entry (the count says how many in all)
BLOB_NAME = re.compile(r"^[0-9a-f]{64}$")  # uploads in progress are dot-files: never here


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
    deleted = collected = size = dropped = 0
    if not dry_run:
        step("committed")
        grace = READER_GRACE if config.cluster.active_active else None
        destroyed = settle(db, vault, clock, grace)
        step("keys_destroyed")
        deleted = delete_blobs(db, config.data_dir / "blobs", result.blobs)
        collected, size = collect_unreferenced(db, config, clock)
        dropped = drop_stale_uploads(db, config, clock)
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
        "unreferenced_blobs_collected": collected,
        "unreferenced_bytes_collected": size,
        "uploads_in_progress_dropped": dropped,
    }
    if result.requests or result.uploads or destroyed or collected or dropped:
        log.info("retention_pass", **{k: v for k, v in summary.items() if k != "request_ids"})
    return summary


def drop_stale_uploads(db: Database, config: NodeConfig, clock: Clock) -> int:
    """Resumable uploads left unfinished: a peer's no part has advanced for
    ``[evidence] unreferenced_grace_hours`` (it stops holding the peer's quota), and a
    user's started longer ago than ``[retention] unsent_uploads_hours``; with their files."""
    now, folder = clock.now(), config.data_dir / "blobs"
    parts = db.run_sync(
        lambda c: blob_parts.drop_stale(c, now - config.evidence.unreferenced_grace)
    )
    ours = db.run_sync(lambda c: uploads.drop_stale(c, now - config.retention.unsent_uploads))
    names = [partial_blob_name(p.peer, p.blob_sha256) for p in parts]
    for name in names + [resumable_upload_name(u) for u in ours]:
        with contextlib.suppress(FileNotFoundError):
            (folder / name).unlink()
    if parts or ours:
        log.info("uploads_in_progress_dropped", from_peers=len(parts), local=len(ours))
    return len(parts) + len(ours)


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


def collect_unreferenced(db: Database, config: NodeConfig, clock: Clock) -> tuple[int, int]:
    """Delete the blob files that no attachment names (a peer's blobs whose message never
    came, files left behind) once older than ``[evidence] unreferenced_grace_hours``;
    one ``blobs_collected`` audit entry for the pass. Returns (files, bytes)."""
    folder = config.data_dir / "blobs"
    files = {}
    with contextlib.suppress(FileNotFoundError):
        for item in os.scandir(folder):
            if BLOB_NAME.match(item.name) and item.is_file(follow_symlinks=False):
                files[item.name] = item.stat(follow_symlinks=False).st_size
    now = clock.now()

    def collect(conn: sqlite3.Connection) -> tuple[int, int]:
        # The files go inside the transaction that decides it, so no message stored
        # meanwhile can come to name a file this pass has already judged unreferenced.
        with transaction(conn):
            found = blobs.collectable(
                conn, files, now=now, grace_start=now - config.evidence.unreferenced_grace
            )
            new = [f for f in found if not f.again]
            if new:
                audit.append(conn, at=now, authority=config.authority_id,
                             action="blobs_collected", actor="retention", count=len(new),
                             bytes=sum(f.size for f in new),
                             blob_sha256s=[f.blob_sha256 for f in new[:LISTED]])  # fmt: skip
            for item in found:
                with contextlib.suppress(FileNotFoundError):
                    (folder / item.blob_sha256).unlink()
        return len(new), sum(f.size for f in new)

    collected, size = db.run_sync(collect)
    if collected:
        log.info("blobs_collected", count=collected, bytes=size)
    return collected, size
