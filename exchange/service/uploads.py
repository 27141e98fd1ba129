"""Resumable uploads of evidence files from the local API and the browser: the core of
tus 1.0 (creation with ``Upload-Length``, ``HEAD`` for ``Upload-Offset``, ``PATCH`` at
that offset; docs/PROTOCOL.md), encrypted while they stream in, as ``upload()`` does.

The file is sealed with its own key into 64 KiB secretstream chunks as parts arrive.
Between parts the writer (its stream state, both running hashes and the last chunk,
which may still turn out to be the final one) stays in memory, so the offset answered
is every byte received. The file holds whole chunks only and is synced before their
count is committed; after a restart the writer is rebuilt from those chunks (pulling
them with the key leaves the stream in the state pushing them did), and the offset
answered is what they hold: the client sends the rest again from there.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import sqlite3
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import IO

import structlog

from ..core.errors import DecryptionFailed, Malformed, NotFound, OffsetMismatch, TooLarge
from ..core.evidence import (
    CHUNK,
    BlobWriter,
    ManifestEntry,
    new_key,
    resumable_upload_name,
    safe_filename,
)
from ..store import audit
from ..store import evidence as attachments
from ..store import uploads as store
from ..store.db import transaction
from ..store.evidence import Upload
from ..store.uploads import UploadInProgress
from .evidence import blob_dir, blob_path, close_quietly, disk_full, ensure_room, room_for
from .node import Node

log = structlog.get_logger("exchange.evidence")
# (data folder, upload id) -> the writer of an upload in progress; the uploads a part
# is being written to right now (one part at a time)
_WRITERS: dict[tuple[str, str], BlobWriter] = {}
_BUSY: set[tuple[str, str]] = set()


def _file(node: Node, upload_id: str) -> Path:
    return blob_dir(node) / resumable_upload_name(upload_id)


async def create(node: Node, *, owner: str, length: int, filename: str, media_type: str) -> str:
    """A new upload of ``length`` bytes; its id (also the attachment's, once whole)."""
    limit = node.config.limits.max_attachment_bytes
    if length > limit:
        raise TooLarge(f"an attachment may have at most {limit} bytes")
    if length < 1:
        raise Malformed("Upload-Length must be 1 or more (send an empty file whole)")
    await ensure_room(node, length)
    upload_id, key = secrets.token_hex(12), new_key()
    writer = BlobWriter(key)
    header = writer.write(b"")
    path = _file(node, upload_id)
    with disk_full():
        await asyncio.to_thread(_write_new, path, header)
    now = node.clock.now()
    try:
        await node.db.run(
            lambda c: store.create(
                c,
                node.vault,
                upload_id=upload_id,
                owner=owner,
                length=length,
                media_type=media_type,
                filename=safe_filename(filename or "attachment"),
                key=key,
                header_bytes=len(header),
                now=now,
            )
        )
    except BaseException:
        await asyncio.to_thread(path.unlink, True)
        raise
    _WRITERS[(str(node.config.data_dir), upload_id)] = writer
    log.info("upload_started", upload_id=upload_id, length=length)
    return upload_id


async def where(node: Node, upload_id: str, *, owner: str) -> tuple[int, int]:
    """(Upload-Offset, Upload-Length) of the owner's upload; a finished one that is not
    sent yet answers its whole length (the client may have missed the last answer)."""
    done = await node.db.run(lambda c: attachments.unsent(c, node.vault, [upload_id], owner=owner))
    if done:
        return done[0].size, done[0].size
    upload = await node.db.run(lambda c: store.get(c, node.vault, upload_id, owner=owner))
    writer = _cached_writer(node, (str(node.config.data_dir), upload_id))
    return (writer.size if writer else upload.received), upload.length


async def append(
    node: Node,
    upload_id: str,
    chunks: AsyncIterator[bytes],
    *,
    owner: str,
    offset: int,
    size_hint: int | None,
) -> tuple[int, Upload | None]:
    """Write what the body holds at ``offset`` (which must be where the upload stands:
    ``offset_mismatch`` otherwise); returns the new offset, and the stored attachment
    once the file is whole. Bytes received before a broken connection are kept."""
    busy = (str(node.config.data_dir), upload_id)
    if busy in _BUSY:
        raise OffsetMismatch("another part of this upload is being received")
    _BUSY.add(busy)
    try:
        upload = await node.db.run(lambda c: store.get(c, node.vault, upload_id, owner=owner))
        path = _file(node, upload_id)
        writer = _cached_writer(node, busy) or await _resume(node, upload, path)
        if not node.config.cluster.active_active:
            _WRITERS[busy] = writer
        if offset != writer.size:
            raise OffsetMismatch(f"this upload stands at {writer.size} bytes")
        if size_hint is not None and offset + size_hint > upload.length:
            raise Malformed("the body goes past Upload-Length")
        async with room_for(node, upload.length - offset) as room:
            with disk_full():
                handle = await asyncio.to_thread(_open_at, path, writer.blob_size)
                try:
                    async for chunk in chunks:
                        if writer.size + len(chunk) > upload.length:
                            raise Malformed("the body goes past Upload-Length")
                        await asyncio.to_thread(handle.write, writer.write(chunk))
                        room.wrote(len(chunk))
                    if writer.size == upload.length:
                        await asyncio.to_thread(handle.write, writer.finish())
                except OSError:
                    # a write failed (a full disk): the writer's stream went past what the
                    # file holds, so nothing of this part counts; the upload stands where
                    # it was committed, and its writer is rebuilt from the synced chunks
                    _WRITERS.pop(busy, None)
                    await asyncio.to_thread(close_quietly, handle)
                    raise
                except BaseException:  # cut short: what it brought is kept
                    await asyncio.shield(_keep(node, upload_id, handle, writer))
                    raise
                await asyncio.shield(_keep(node, upload_id, handle, writer))
        if writer.size < upload.length:
            if not node.config.cluster.active_active:
                return writer.size, None
            # Another process goes on from the whole chunks synced, so that is where
            # the upload stands for any of them; a part that makes none is refused
            # (a client would otherwise send it again without end).
            if writer.whole_chunks == offset:
                raise Malformed(
                    f"a part that is not the last must hold at least {CHUNK} bytes"
                    " from where the upload stands (several node processes serve it)"
                )
            return writer.whole_chunks, None
        _WRITERS.pop(busy, None)
        return writer.size, await _finish(node, upload, writer, path)
    finally:
        _BUSY.discard(busy)


def _cached_writer(node: Node, key: tuple[str, str]) -> BlobWriter | None:
    """This process's writer of the upload, if it may be trusted: with several processes
    on one data folder (``[cluster] active_active``) another may have appended parts
    since, so each part starts from what the database and the file hold (the bytes of
    a chunk not yet whole are then sent again: the client asks where the upload stands,
    as tus clients do)."""
    return None if node.config.cluster.active_active else _WRITERS.get(key)


async def _resume(node: Node, upload: UploadInProgress, path: Path) -> BlobWriter:
    """The writer after a restart: from the whole chunks synced and committed (any bytes
    past them are cut when the file is opened for the next part)."""
    return await asyncio.to_thread(_resume_from_disk, upload, path)


def _resume_from_disk(upload: UploadInProgress, path: Path) -> BlobWriter:
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        raise NotFound("this upload's file is gone: start a new upload") from None
    with handle:

        def prefix() -> Iterator[bytes]:
            left = upload.blob_bytes
            while left:
                piece = handle.read(min(1 << 20, left))
                if not piece:
                    raise DecryptionFailed("this upload's file is shorter than recorded")
                left -= len(piece)
                yield piece

        return BlobWriter.resumed(upload.key, prefix())


async def _keep(node: Node, upload_id: str, handle: IO[bytes], writer: BlobWriter) -> None:
    """Sync the whole chunks written, then commit how much they hold. A sync the disk
    fails commits nothing, and the writer (past what the file holds) is dropped."""
    try:
        await asyncio.to_thread(_sync_close, handle)
    except OSError:
        _WRITERS.pop((str(node.config.data_dir), upload_id), None)
        await asyncio.to_thread(close_quietly, handle)
        raise
    received, blob_bytes = writer.whole_chunks, writer.blob_size
    await node.db.run(
        lambda c: store.advance(c, upload_id, received=received, blob_bytes=blob_bytes)
    )


async def _finish(node: Node, upload: UploadInProgress, writer: BlobWriter, path: Path) -> Upload:
    entry = ManifestEntry(
        id=upload.id,
        filename=upload.filename,
        media_type=upload.media_type,
        size=writer.size,
        sha256=writer.plain_sha256.hexdigest(),
        blob_sha256=writer.blob_sha256.hexdigest(),
        blob_size=writer.blob_size,
        key=upload.key,
    )
    await asyncio.to_thread(os.replace, path, blob_path(node, entry.blob_sha256))
    now = node.clock.now()

    def save(conn: sqlite3.Connection) -> None:
        with transaction(conn):
            store.finish(conn, upload.id)
            attachments.record(conn, node.vault, entry, owner=upload.owner, now=now)
            audit.append(conn, at=now, authority=node.me, action="attachment_uploaded",
                         actor=upload.owner, attachment_id=entry.id,
                         blob_sha256=entry.blob_sha256, size=entry.size)  # fmt: skip

    await node.db.run(save)
    log.info("attachment_uploaded", attachment_id=entry.id, size=entry.size, resumable=True)
    return Upload(entry.id, entry.filename, entry.media_type, entry.size, entry.sha256)


def _write_new(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    except OSError:
        path.unlink(missing_ok=True)
        raise


def _open_at(path: Path, blob_bytes: int) -> IO[bytes]:
    handle = open(path, "r+b")  # noqa: SIM115 (closed by _keep)
    handle.truncate(blob_bytes)
    handle.seek(blob_bytes)
    return handle


def _sync_close(handle: IO[bytes]) -> None:
    try:
        handle.flush()
        os.fsync(handle.fileno())
    finally:
        handle.close()
