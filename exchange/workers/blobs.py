"""Sending a message's evidence blobs to the peer before the message itself.

A blob goes in parts (``PATCH /v1/blobs/{sha256}``) from where the peer says its
upload stands (``HEAD``): a transfer that breaks resumes from the last part the peer
verified, not from zero. A peer that knows neither (an older node: 405) gets the
whole blob in one ``PUT``, as before.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import structlog

from ..core.directory import Authority
from ..core.errors import ExchangeError
from ..core.peer_auth import HEADER, sign_call
from ..service import evidence
from ..service.node import Node
from ..store.evidence import PendingBlob
from .peer_client import pinned

log = structlog.get_logger("exchange.delivery")
_OFFSET_RETRIES = 2
_SLICE = 256 * 1024
# a peer's refusals of a blob kept as they are in the outbox's last error: its disk is
# full, or it holds as much of ours as it keeps (both retried); any other is "blob"
_TOLD = frozenset({"insufficient_storage", "quota_exceeded"})


async def upload_blobs(
    node: Node, session: aiohttp.ClientSession, peer: str, msg_ids: list[str]
) -> None:
    """Send the peer every blob these messages need that it does not have yet."""
    pending = await evidence.to_upload(node, msg_ids)
    if not pending:
        return
    authority = node.directory.require().get(peer)
    if authority is None:
        raise ExchangeError("peer left the directory", code="unknown_sender")
    for item in pending:
        if not await _send_in_parts(node, session, authority, item):
            await _put_whole(node, session, authority, item)
        await evidence.record_sent(node, item.attachment_id, item.blob_size)
        await evidence.mark_uploaded(node, item.attachment_id)


def _timeout(node: Node) -> aiohttp.ClientTimeout:
    return aiohttp.ClientTimeout(
        total=None, sock_read=node.config.delivery.request_timeout.total_seconds()
    )


def _signed(node: Node, authority: Authority, method: str, path: str, body_sha256: str) -> str:
    now = node.clock.now()
    return sign_call(method=method, path=path, sender=node.me, recipient=authority.authority_id,
                     key=node.signing_key(now), now=now, body_sha256=body_sha256)  # fmt: skip


async def _send_in_parts(
    node: Node, session: aiohttp.ClientSession, authority: Authority, item: PendingBlob
) -> bool:
    """The blob sent from where the peer's copy stands; False if the peer does not take
    parts (an older node)."""
    path = f"/v1/blobs/{item.blob_sha256}"
    offset, complete = await _where(node, session, authority, path)
    if offset is None:
        return False
    wire = _Wire(start=offset)
    try:
        await _parts(node, session, authority, item, path, offset, complete, wire)
    finally:  # what went over the wire this time, broken off or not (docs/OPERATIONS.md)
        log.info("blob_parts_sent", peer=authority.authority_id, resumed_from=wire.start,
                 bytes_sent=wire.sent, size=item.blob_size)  # fmt: skip
    return True


@dataclass
class _Wire:
    start: int  # where the peer said its copy stood
    sent: int = 0  # bytes of parts sent since, answered or not


async def _parts(
    node: Node, session: aiohttp.ClientSession, authority: Authority, item: PendingBlob,
    path: str, offset: int, complete: bool, wire: _Wire,
) -> None:  # fmt: skip
    file = evidence.blob_path(node, item.blob_sha256)
    part_bytes, mismatches = node.config.evidence.part_bytes, 0
    ahead: asyncio.Task[tuple[bytes, str]] | None = None  # the next part, read meanwhile
    progress: asyncio.Task[None] | None = None  # what the peer confirmed, stored meanwhile
    try:
        while not complete:
            if progress is not None:
                await progress
            progress = asyncio.create_task(evidence.record_sent(node, item.attachment_id, offset))
            if ahead is not None and ahead.get_name() == str(offset):
                part, digest = await ahead
            else:
                if ahead is not None:
                    ahead.cancel()
                part, digest = await asyncio.to_thread(_read_part, file, offset, part_bytes)
            ahead = asyncio.create_task(
                asyncio.to_thread(_read_part, file, offset + len(part), part_bytes),
                name=str(offset + len(part)),
            )
            query = f"?offset={offset}&length={item.blob_size}"
            headers = {
                HEADER: _signed(node, authority, "PATCH", path + query, digest),
                "Content-Type": "application/offset+octet-stream",
                "Content-Length": str(len(part)),  # the part goes in slices, not chunked
            }
            wire.sent += len(part)
            async with session.patch(
                authority.node_url.rstrip("/") + path + query,
                data=_slices(part),
                headers=headers,
                ssl=pinned(*authority.tls_pins),
                timeout=_timeout(node),
            ) as response:
                code = _error_code(response, await response.read())
            if code == "offset_mismatch" and mismatches < _OFFSET_RETRIES:
                mismatches += 1  # the peer lost or cut what it held: ask again, go on from it
                found, complete = await _where(node, session, authority, path)
                offset = found or 0
                continue
            if response.status != 200:
                raise ExchangeError(f"peer refused a blob part: HTTP {response.status} {code}",
                                    code=_told(code))  # fmt: skip
            expected = offset + len(part)
            offset = int(response.headers.get("Upload-Offset", "-1"))
            complete = response.headers.get("Upload-Complete") == "1"
            if not complete and offset != expected:
                raise ExchangeError("peer holds another length than it took", code="blob")
        if progress is not None:
            await progress
    finally:
        if ahead is not None:
            ahead.cancel()  # a part read ahead that is not needed any more
        if progress is not None and not progress.done():
            await asyncio.wait([progress])


async def _where(
    node: Node, session: aiohttp.ClientSession, authority: Authority, path: str
) -> tuple[int | None, bool]:
    """``HEAD``: how many bytes of the blob the peer verified, and whether it is whole
    there; (None, False) from a peer that does not know the call."""
    auth = _signed(node, authority, "HEAD", path, hashlib.sha256(b"").hexdigest())
    async with session.head(
        authority.node_url.rstrip("/") + path,
        headers={HEADER: auth},
        ssl=pinned(*authority.tls_pins),
        timeout=_timeout(node),
    ) as response:
        if response.status == 405:
            return None, False
        if response.status != 200:
            raise ExchangeError(f"peer refused a blob: HTTP {response.status}", code="blob")
        offset = response.headers.get("Upload-Offset", "")
        if not offset.isascii() or not offset.isdigit():
            raise ExchangeError("peer's Upload-Offset is not a number", code="blob")
        return int(offset), response.headers.get("Upload-Complete") == "1"


def _told(code: str) -> str:
    """What a peer's refusal of a blob tells our operators (the outbox's last error, on
    the peers page): its code when it is one they can act on, else ``blob``; never a
    string of the peer's choosing."""
    return code if code in _TOLD else "blob"


def _error_code(response: aiohttp.ClientResponse, body: bytes) -> str:
    if response.status == 200:
        return ""
    try:
        return str(json.loads(body)["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return ""


async def _slices(part: bytes) -> AsyncIterator[memoryview]:
    """A part written a slice at a time: TLS encrypts each slice and sends it while the
    peer reads the one before (a part written whole is encrypted whole, ~8 MiB, before
    its first byte leaves, and the peer waits meanwhile)."""
    view = memoryview(part)
    for start in range(0, len(view), _SLICE):
        yield view[start : start + _SLICE]


def _read_part(file: Path, offset: int, size: int) -> tuple[bytes, str]:
    """A part of the blob and its SHA-256 (which the call's signature covers)."""
    with file.open("rb") as handle:
        handle.seek(offset)
        part = handle.read(size)
    return part, hashlib.sha256(part).hexdigest()


async def _put_whole(
    node: Node, session: aiohttp.ClientSession, authority: Authority, item: PendingBlob
) -> None:
    """The whole blob in one ``PUT`` (a peer of an older version)."""
    path = f"/v1/blobs/{item.blob_sha256}"
    auth = _signed(node, authority, "PUT", path, item.blob_sha256)
    file = evidence.blob_path(node, item.blob_sha256)
    async with session.put(
        authority.node_url.rstrip("/") + path,
        data=evidence.read_file(file),
        headers={HEADER: auth, "Content-Type": "application/octet-stream",
                 "Content-Length": str(item.blob_size)},
        ssl=pinned(*authority.tls_pins),
        timeout=_timeout(node),
    ) as response:  # fmt: skip
        code = _error_code(response, await response.read())
        if response.status != 200:
            raise ExchangeError(f"peer refused a blob: HTTP {response.status}", code=_told(code))
