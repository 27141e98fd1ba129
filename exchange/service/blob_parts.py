"""Resumable blob uploads from peers (``HEAD`` / ``PATCH /v1/blobs/{sha256}``): a
transfer that breaks resumes from the last verified part, not from zero.

Each peer's upload of a blob is its own file, ``blobs/.part-<peer>-<sha256>``, and its
own row (``store/blob_parts``). A part is appended at the offset the upload stands at
and only there; it is verified before it counts: the caller's signature covers the
part's SHA-256, so a part nobody signed is cut off again and the upload stands where
it stood. The file is synced before its new length is committed, so after a crash the
committed length is true and anything past it is cut. The blob's whole SHA-256 can
only be checked at its end: the running hash is kept in memory between parts and,
after a restart, computed again from the verified prefix on disk (read locally, never
sent again). A blob whose hash differs from its name is refused and dropped whole.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator, Callable
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import structlog

from ..core.errors import Conflict, Malformed, OffsetMismatch, QuotaExceeded, TooLarge
from ..core.evidence import MAX_PART_BYTES, partial_blob_name
from ..store import blob_parts, blobs
from .evidence import BLOB_OVERHEAD, blob_dir, blob_path, close_quietly, disk_full, room_for
from .node import Node

log = structlog.get_logger("exchange.evidence")
_READ = 1024 * 1024
_WRITEBACK = getattr(os, "posix_fadvise", None)  # absent on macOS: no early writeback


@dataclass(frozen=True)
class BlobState:
    """What this node holds of a blob from one peer: ``offset`` bytes verified (all of
    it when ``complete``), of ``length`` declared (None: no upload in progress)."""

    offset: int
    length: int | None
    complete: bool


@dataclass
class _Running:
    offset: int
    digest: Any  # hashlib's sha256 object: the blob's hash up to ``offset``


# (data folder, peer, blob) -> the running hash of an upload in progress, and the
# uploads a part is being appended to right now (one part at a time per upload)
_RUNNING: dict[tuple[str, str, str], _Running] = {}
_BUSY: set[tuple[str, str, str]] = set()


def max_blob_bytes(node: Node) -> int:
    return node.config.limits.max_attachment_bytes * 2 + BLOB_OVERHEAD


def part_path(node: Node, peer: str, blob_sha256: str) -> Path:
    return blob_dir(node) / partial_blob_name(peer, blob_sha256)


async def state(node: Node, peer: str, blob_sha256: str) -> BlobState:
    target = blob_path(node, blob_sha256)
    if await asyncio.to_thread(target.is_file):
        size = (await asyncio.to_thread(target.stat)).st_size
        return BlobState(size, size, True)
    partial = await _partial(node, peer, blob_sha256)
    if partial is None:
        return BlobState(0, None, False)
    return BlobState(partial.verified, partial.length, False)


async def append(
    node: Node,
    blob_sha256: str,
    chunks: AsyncIterator[bytes],
    *,
    peer: str,
    offset: int,
    length: int,
    part_size: int | None,
    verify: Callable[[str], object],
) -> BlobState:
    """Append one part of ``peer``'s upload of a blob at ``offset``, or raise and leave
    the upload as it stood. ``verify`` is called with the part's SHA-256 once it is
    read and before it counts (the caller's signature over it)."""
    target = blob_path(node, blob_sha256)
    _check_shape(node, offset=offset, length=length, part_size=part_size)
    assert part_size is not None
    key = (str(node.config.data_dir), peer, blob_sha256)
    if key in _BUSY:
        raise Conflict("another part of this upload is being received: try again")
    _BUSY.add(key)
    try:
        if await asyncio.to_thread(target.is_file):
            await _drain(chunks, part_size, verify)  # a known caller learns it is here
            return await _already_here(node, peer, blob_sha256, target)
        partial = await _partial(node, peer, blob_sha256)
        if partial is None:
            if offset != 0:
                raise OffsetMismatch("no upload of this blob is in progress: start at 0")
            quota = node.config.evidence.peer_quota_bytes
            held = await node.db.run(lambda c: blobs.held(c, peer))
            if held + max(length, blobs.MIN_CHARGE) > quota:
                raise QuotaExceeded("this node holds as many of your blobs as it keeps")
        elif partial.length != length or partial.verified != offset:
            raise OffsetMismatch(
                f"this upload stands at {partial.verified} of {partial.length} bytes"
            )
        # the rest of the file is held while this part is written (parts are at most
        # 64 MiB: what the part adds is not given back as it lands)
        async with room_for(node, length - offset):
            with disk_full():
                # a part the disk cannot hold is cut: the upload stands as it stood
                return await _append(
                    node,
                    key,
                    chunks,
                    offset=offset,
                    length=length,
                    part_size=part_size,
                    verify=verify,
                    new=partial is None,
                )
    finally:
        _BUSY.discard(key)


async def _partial(node: Node, peer: str, blob_sha256: str) -> blob_parts.PartialBlob | None:
    """The peer's upload in progress, if its file still holds what was verified (an
    upload whose file is gone or short is dropped: it starts again at 0)."""
    partial = await node.db.run(lambda c: blob_parts.get(c, peer, blob_sha256))
    if partial is None:
        return None
    path = part_path(node, peer, blob_sha256)
    try:
        size = (await asyncio.to_thread(path.stat)).st_size
    except FileNotFoundError:
        size = -1
    if size >= partial.verified:
        return partial
    log.error("blob_upload_file_lost", peer=peer, verified=partial.verified)
    await _abandon(node, (str(node.config.data_dir), peer, blob_sha256), path)
    return None


def _check_shape(node: Node, *, offset: int, length: int, part_size: int | None) -> None:
    if length > max_blob_bytes(node):
        raise TooLarge("blob is larger than this node accepts")
    if part_size is None:
        raise Malformed("a part of a blob upload needs a Content-Length")
    if part_size > MAX_PART_BYTES:
        raise TooLarge(f"a part of a blob upload may have at most {MAX_PART_BYTES} bytes")
    if part_size < 1 or offset + part_size > length:
        raise Malformed("a part must hold 1 byte or more and end within Upload-Length")


async def _drain(chunks: AsyncIterator[bytes], size: int, verify: Callable[[str], object]) -> None:
    digest, count = hashlib.sha256(), 0
    async for chunk in chunks:
        count += len(chunk)
        digest.update(chunk)
    if count != size:
        raise Malformed("the part is shorter or longer than its Content-Length")
    verify(digest.hexdigest())


async def _already_here(node: Node, peer: str, blob_sha256: str, target: Path) -> BlobState:
    """The blob is whole here (from this peer or another): an upload left behind (a
    crash between its file's rename and its commit) ends now."""
    size = (await asyncio.to_thread(target.stat)).st_size
    if await node.db.run(lambda c: blob_parts.get(c, peer, blob_sha256)) is not None:
        now = node.clock.now()
        await node.db.run(
            lambda c: blob_parts.complete(c, peer=peer, blob_sha256=blob_sha256, size=size, now=now)
        )
    await asyncio.to_thread(part_path(node, peer, blob_sha256).unlink, True)
    _RUNNING.pop((str(node.config.data_dir), peer, blob_sha256), None)
    return BlobState(size, size, True)


async def _append(
    node: Node,
    key: tuple[str, str, str],
    chunks: AsyncIterator[bytes],
    *,
    offset: int,
    length: int,
    part_size: int,
    verify: Callable[[str], object],
    new: bool,
) -> BlobState:
    _, peer, blob_sha256 = key
    path = part_path(node, peer, blob_sha256)
    handle = await asyncio.to_thread(_open_at, path, offset, new)
    writing: asyncio.Future[None] | None = None
    try:
        running = _RUNNING.get(key)
        if running is None or running.offset != offset:
            running = _Running(offset, await asyncio.to_thread(_hash_prefix, handle, offset))
        whole, part, count = running.digest.copy(), hashlib.sha256(), 0
        # hashed and written a MiB at a time off the event loop, while the next MiB is
        # read from the network (one MiB in the thread at a time, so in order)
        held: list[bytes] = []
        async for chunk in chunks:
            count += len(chunk)
            if count > part_size:
                raise Malformed("the part is longer than its Content-Length")
            held.append(chunk)
            if sum(map(len, held)) >= _READ:
                await _settle(writing)
                writing = asyncio.ensure_future(
                    asyncio.to_thread(_absorb, handle, held, part, whole)
                )
                held = []
        await _settle(writing)
        await asyncio.to_thread(_absorb, handle, held, part, whole)
        if count != part_size:
            raise Malformed("the part is shorter than its Content-Length")
        verify(part.hexdigest())  # bad_signature, replay: the part does not count
        end = offset + count
        if end == length and whole.hexdigest() != blob_sha256:
            await _abandon(node, key, path)
            raise Malformed("blob does not match its SHA-256: the upload is dropped")
        await asyncio.to_thread(_sync, handle)
    except BaseException:
        if writing is not None:  # the MiB being written lands before the part is cut
            await asyncio.wait([writing])
        await asyncio.to_thread(_cut, handle, path, offset, new)
        raise
    await asyncio.to_thread(handle.close)
    return await _commit(node, key, path, end=end, length=length, new=new, whole=whole)


async def _commit(
    node: Node, key: tuple[str, str, str], path: Path, *, end: int, length: int, new: bool,
    whole: Any,
) -> BlobState:  # fmt: skip
    _, peer, blob_sha256 = key
    now, quota = node.clock.now(), node.config.evidence.peer_quota_bytes
    try:
        if new:
            await node.db.run(
                lambda c: blob_parts.start(
                    c,
                    peer=peer,
                    blob_sha256=blob_sha256,
                    length=length,
                    verified=end,
                    quota=quota,
                    now=now,
                )
            )
        elif end < length:
            await node.db.run(
                lambda c: blob_parts.advance(
                    c, peer=peer, blob_sha256=blob_sha256, verified=end, now=now
                )
            )
    except QuotaExceeded:
        await asyncio.to_thread(path.unlink, True)
        raise
    if end < length:
        _RUNNING[key] = _Running(end, whole)
        return BlobState(end, length, False)
    await asyncio.to_thread(os.replace, path, blob_path(node, blob_sha256))
    await node.db.run(
        lambda c: blob_parts.complete(c, peer=peer, blob_sha256=blob_sha256, size=end, now=now)
    )
    _RUNNING.pop(key, None)
    log.info("blob_received", peer=peer, size=end, resumable=True)
    return BlobState(end, end, True)


async def _abandon(node: Node, key: tuple[str, str, str], path: Path) -> None:
    _, peer, blob_sha256 = key
    _RUNNING.pop(key, None)
    await node.db.run(lambda c: blob_parts.drop(c, peer=peer, blob_sha256=blob_sha256))
    await asyncio.to_thread(path.unlink, True)
    log.info("blob_upload_dropped", peer=peer)


def _open_at(path: Path, offset: int, new: bool) -> IO[bytes]:
    """The upload's file, 0600, positioned at ``offset`` with anything after it (bytes
    written before a crash, never committed) cut off."""
    if new:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
    else:
        try:
            fd = os.open(path, os.O_RDWR)
        except FileNotFoundError:
            raise OffsetMismatch("this upload's file is gone: start again at 0") from None
    handle = os.fdopen(fd, "r+b")
    size = os.fstat(fd).st_size
    if size < offset:
        handle.close()
        raise OffsetMismatch("this upload's file is shorter than recorded: start again at 0")
    handle.truncate(offset)
    handle.seek(offset)
    return handle


async def _settle(writing: asyncio.Future[None] | None) -> None:
    """The MiB in the thread written (its error raised here); a cancelled wait leaves it
    running, for the caller's cleanup to wait on."""
    if writing is not None:
        await asyncio.shield(writing)


def _absorb(handle: IO[bytes], pieces: list[bytes], *digests: Any) -> None:
    data = b"".join(pieces)
    for digest in digests:
        digest.update(data)
    start = handle.tell()
    handle.write(data)
    handle.flush()
    if _WRITEBACK is not None and data:
        # start writing these pages to disk now, without waiting: the fsync at the end
        # of the part then has little left to do (on Linux, DONTNEED on dirty pages
        # starts their writeback; pages still being written stay cached)
        _WRITEBACK(handle.fileno(), start, len(data), os.POSIX_FADV_DONTNEED)


def _hash_prefix(handle: IO[bytes], offset: int) -> Any:
    digest = hashlib.sha256()
    handle.seek(0)
    left = offset
    while left:
        piece = handle.read(min(_READ, left))
        if not piece:
            raise OffsetMismatch("this upload's file is shorter than recorded")
        digest.update(piece)
        left -= len(piece)
    return digest


def _sync(handle: IO[bytes]) -> None:
    handle.flush()
    os.fsync(handle.fileno())


def _cut(handle: IO[bytes], path: Path, offset: int, new: bool) -> None:
    """Undo a part that does not count: the file as it stood (or gone, if it was new)."""
    try:
        if new:
            path.unlink(missing_ok=True)
        elif path.exists():
            with suppress(OSError):  # a full disk: what is buffered is not kept, nor counted
                handle.flush()
            os.ftruncate(handle.fileno(), offset)
    finally:
        close_quietly(handle)
