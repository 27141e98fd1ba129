"""Evidence files: encrypted at upload, named by their blob hash, sent to peers
before their message, decrypted as they stream back out.

Blobs live under ``<data>/blobs/<sha256 of the blob>``, encrypted with their own
stream key (``exchange.core.evidence``), so the folder alone reveals nothing. Nothing
here ever holds a whole file in memory: files go chunk by chunk.
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import os
import re
import secrets
import sqlite3
from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractAsyncContextManager, contextmanager, suppress
from datetime import timedelta
from pathlib import Path
from typing import IO

import structlog

from ..core.content import attachments_of
from ..core.errors import (
    DecryptionFailed,
    InsufficientStorage,
    Malformed,
    NotFound,
    QuotaExceeded,
    TooLarge,
)
from ..core.evidence import CHUNK, BlobReader, BlobWriter, ManifestEntry, new_key, safe_filename
from ..store import audit, blobs
from ..store import evidence as store
from ..store.db import transaction
from ..store.evidence import PendingBlob
from ..store.evidence import Upload as Upload  # what web pages show of a file
from . import disk_room
from .node import Node
from .sessions import User

log = structlog.get_logger("exchange.evidence")
# a reservation this old is a dead process's leftover (no upload takes a day)
RESERVATION_LEFTOVER = timedelta(days=1)
MEDIA_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,63}/[a-z0-9][a-z0-9!#$&^_.+-]{0,63}$")
HEX64 = re.compile(r"^[0-9a-f]{64}$")
BLOB_OVERHEAD = 1024 * 1024  # a blob is its file plus the stream's headers and tags


def blob_dir(node: Node) -> Path:
    path = node.config.data_dir / "blobs"
    path.mkdir(mode=0o700, exist_ok=True)
    return path


async def ensure_room(node: Node, needed: int) -> None:
    """Refuse a file that needs ``needed`` more bytes of the blobs folder's disk when
    that would leave less free than ``[evidence] min_free_bytes`` (``disk_room``)."""
    await disk_room.check(blob_dir(node), needed, keep_free=node.config.evidence.min_free_bytes)


def room_for(node: Node, needed: int) -> AbstractAsyncContextManager[disk_room.Room]:
    """``ensure_room``, and ``needed`` bytes held for the write it guards (``disk_room``)."""
    return disk_room.room_for(blob_dir(node), needed, keep_free=node.config.evidence.min_free_bytes)


@contextmanager
def disk_full() -> Iterator[None]:
    """A disk (or quota) that fills while a file is written is ``insufficient_storage``
    (507, retryable), not an internal error; the caller's clean-up still runs."""
    try:
        yield
    except OSError as exc:
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        log.warning("evidence_disk_full")
        raise InsufficientStorage("this node's disk filled while the file was written") from None


def _create_private(path: Path) -> IO[bytes]:
    """A new file, 0600 from the first byte whatever the umask (docs/THREAT_MODEL.md)."""
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb")


def blob_path(node: Node, blob_sha256: str) -> Path:
    if not HEX64.match(blob_sha256):
        raise Malformed("a blob is named by its lowercase hex SHA-256")
    return blob_dir(node) / blob_sha256


def media_type_of(header: str | None) -> str:
    """A Content-Type header's media type, if it is a plain one."""
    media = (header or "").split(";")[0].strip().lower()
    return media if MEDIA_TYPE.match(media) else "application/octet-stream"


async def upload(
    node: Node, chunks: AsyncIterator[bytes], *, filename: str, media_type: str, actor: str
) -> Upload:
    """Encrypt one uploaded file into a blob while it streams in; record it (audited)."""
    limit = node.config.limits.max_attachment_bytes
    await ensure_room(node, 0)  # its size is known only at its end
    key = new_key()
    writer = BlobWriter(key)
    temp = blob_dir(node) / f".upload-{secrets.token_hex(8)}"
    with disk_full():
        handle = await asyncio.to_thread(_create_private, temp)
        try:
            async for chunk in chunks:
                if writer.size + len(chunk) > limit:
                    raise TooLarge(f"an attachment may have at most {limit} bytes")
                await asyncio.to_thread(handle.write, writer.write(chunk))
            await asyncio.to_thread(handle.write, writer.finish())
            await asyncio.to_thread(_sync_close, handle)
            entry = ManifestEntry(
                id=secrets.token_hex(12),
                filename=safe_filename(filename or "attachment"),
                media_type=media_type,
                size=writer.size,
                sha256=writer.plain_sha256.hexdigest(),
                blob_sha256=writer.blob_sha256.hexdigest(),
                blob_size=writer.blob_size,
                key=key,
            )
            await asyncio.to_thread(os.replace, temp, blob_path(node, entry.blob_sha256))
        except BaseException:
            close_quietly(handle)
            await asyncio.to_thread(temp.unlink, True)  # nothing half-written stays behind
            raise
    now = node.clock.now()

    def save(conn: sqlite3.Connection) -> None:
        with transaction(conn):
            store.record(conn, node.vault, entry, owner=actor, now=now)
            audit.append(conn, at=now, authority=node.me, action="attachment_uploaded",
                         actor=actor, attachment_id=entry.id,
                         blob_sha256=entry.blob_sha256, size=entry.size)  # fmt: skip

    await node.db.run(save)
    log.info("attachment_uploaded", attachment_id=entry.id, size=entry.size)
    return Upload(entry.id, entry.filename, entry.media_type, entry.size, entry.sha256)


def _sync_close(handle: IO[bytes]) -> None:
    handle.flush()
    os.fsync(handle.fileno())
    handle.close()


def close_quietly(handle: IO[bytes]) -> None:
    """Close a file being given up: on a full disk, what it still buffers cannot be
    written, and the caller drops the file or cuts it back to what was synced."""
    with suppress(OSError):
        handle.close()


async def unsent(node: Node, ids: list[str], *, owner: str) -> list[Upload]:
    """The owner's own uploads among ``ids`` not sent yet (kept across a form's retries)."""
    if not ids:
        return []
    return await node.db.run(lambda c: store.unsent(c, node.vault, ids, owner=owner))


# --- from a peer -------------------------------------------------------------------


async def store_blob(
    node: Node,
    expected: str,
    chunks: AsyncIterator[bytes],
    *,
    peer: str,
    size_hint: int | None,
) -> int:
    """Keep a blob a peer sends before its message, checked against its name while it
    streams; returns its size (0 when it was here already: idempotent).

    Its bytes are reserved under the peer's quota before anything is written (the
    declared Content-Length, or the most a blob may be when none is declared), and the
    body may not outgrow the reservation: refused with ``quota_exceeded``, nothing kept.
    """
    target = blob_path(node, expected)
    limit = node.config.limits.max_attachment_bytes * 2 + BLOB_OVERHEAD
    if size_hint is not None and size_hint > limit:
        raise TooLarge("blob is larger than this node accepts")
    if await asyncio.to_thread(target.exists):
        return 0
    room = limit if size_hint is None else size_hint
    async with room_for(node, size_hint or 0) as disk:
        quota, now = node.config.evidence.peer_quota_bytes, node.clock.now()
        reservation = await node.db.run(
            lambda c: blobs.reserve(c, peer=peer, size=room, quota=quota, now=now)
        )
        try:
            size = await _receive(node, expected, chunks, target, room, limit, disk)
            done = node.clock.now()
            await node.db.run(
                lambda c: blobs.settle(
                    c, reservation, blob_sha256=expected, peer=peer, size=size, now=done
                )
            )
        except BaseException:
            await asyncio.shield(node.db.run(lambda c: blobs.release(c, reservation)))
            raise
    return size


async def _receive(
    node: Node,
    expected: str,
    chunks: AsyncIterator[bytes],
    target: Path,
    room: int,
    limit: int,
    disk: disk_room.Room,
) -> int:
    digest, size = hashlib.sha256(), 0
    temp = blob_dir(node) / f".peer-{secrets.token_hex(8)}"
    with disk_full():
        handle = await asyncio.to_thread(_create_private, temp)
        try:
            async for chunk in chunks:
                size += len(chunk)
                if size > limit:
                    raise TooLarge("blob is larger than this node accepts")
                if size > room:  # longer than it said: its quota was checked for less
                    raise QuotaExceeded("blob is longer than its Content-Length")
                digest.update(chunk)
                await asyncio.to_thread(handle.write, chunk)
                disk.wrote(len(chunk))
            if digest.hexdigest() != expected:
                raise Malformed("blob does not match its SHA-256")
            await asyncio.to_thread(_sync_close, handle)
            await asyncio.to_thread(os.replace, temp, target)
        except BaseException:
            close_quietly(handle)
            await asyncio.to_thread(temp.unlink, True)
            raise
    return size


async def forget_reservations(node: Node) -> int:
    """At start-up, before serving: reservations of uploads a crash cut short. With
    several processes on the data folder (``[cluster] active_active``) another may be
    receiving uploads now: only those older than ``RESERVATION_LEFTOVER`` go (and the
    sessions duty collects them hourly)."""
    before = None
    if node.config.cluster.active_active:
        before = node.clock.now() - RESERVATION_LEFTOVER
    return await node.db.run(lambda c: blobs.forget_reservations(c, before))


async def to_upload(node: Node, msg_ids: list[str]) -> list[PendingBlob]:
    """Blobs a peer still needs before these messages can be delivered."""
    return await node.db.run(lambda c: store.to_upload(c, msg_ids))


async def mark_uploaded(node: Node, attachment_id: str) -> None:
    await node.db.run(lambda c: store.mark_uploaded(c, attachment_id))


async def record_sent(node: Node, attachment_id: str, sent: int) -> None:
    """How many bytes of an attachment's blob its recipient has confirmed (progress)."""
    await node.db.run(lambda c: store.record_sent(c, attachment_id, sent))


async def progress(node: Node, msg_ids: list[str]) -> dict[str, tuple[int, int]]:
    """Of each file our messages ``msg_ids`` send: (bytes its recipient confirmed, all)."""
    return await node.db.run(lambda c: store.progress(c, msg_ids))


async def upload_again(node: Node, msg_ids: list[str]) -> None:
    await node.db.run(lambda c: store.upload_again(c, msg_ids))


async def read_file(path: Path) -> AsyncIterator[bytes]:
    handle = await asyncio.to_thread(path.open, "rb")
    try:
        while chunk := await asyncio.to_thread(handle.read, CHUNK * 4):
            yield chunk
    finally:
        handle.close()


# --- download ---------------------------------------------------------------------


async def open_attachment(
    node: Node, user: User, request_id: str, attachment_id: str
) -> ManifestEntry:
    """The attachment of a request the user may see; opening it is audited."""
    from .requests import load_request

    view = await load_request(node, user, request_id)
    entry = next(
        (
            e
            for message in view.messages
            for e in attachments_of(message.content)
            if e.id == attachment_id
        ),
        None,
    )
    if entry is None:
        raise NotFound("no such attachment")
    if not await asyncio.to_thread(blob_path(node, entry.blob_sha256).is_file):
        # checked before anything is sent or audited: a missing file found mid-stream
        # could only cut the connection after the headers
        log.error("attachment_file_missing", attachment_id=entry.id)
        raise NotFound("the attachment's file is no longer held on this node")
    now = node.clock.now()

    def opened(conn: sqlite3.Connection) -> None:
        with transaction(conn):
            audit.append(conn, at=now, authority=node.me, action="attachment_opened",
                         actor=user.username, request_id=request_id, attachment_id=entry.id,
                         blob_sha256=entry.blob_sha256)  # fmt: skip

    await node.db.run(opened)
    return entry


async def plaintext(node: Node, entry: ManifestEntry) -> AsyncIterator[bytes]:
    """The file decrypted as it streams; ``DecryptionFailed`` at the end if it does not
    match its signed hash (the caller must then cut the connection)."""
    reader = BlobReader(entry.key)
    digest = hashlib.sha256()
    async for piece in read_file(blob_path(node, entry.blob_sha256)):
        plain = reader.feed(piece)
        digest.update(plain)
        yield plain
    reader.close()
    if digest.hexdigest() != entry.sha256:
        raise DecryptionFailed("attachment does not match its signed hash")
