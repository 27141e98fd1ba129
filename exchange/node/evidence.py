"""Evidence files at the edge: streamed upload, peer transfer and download.

Blobs live under ``<data>/blobs/<sha256 of the blob>``: encrypted with their own
stream key (``exchange.core.evidence``), so the folder alone reveals nothing.
Nothing here ever holds a whole file in memory: uploads, transfers and
downloads go chunk by chunk.

* ``POST /api/attachments`` (investigator, liaison): one multipart part ``file``;
  encrypted while it streams in; 201 with ``{id, filename, media_type, size, sha256}``.
* ``PUT /v1/blobs/{sha256}`` (peers): the sender's delivery worker uploads the blobs
  of a message before the message; authenticated like every peer call, with the
  body's hash in the signature; checked while it streams; idempotent.
* ``GET /api/requests/{id}/attachments/{attachment_id}``: decrypted as it streams out,
  checked against the signed hash; opening it is audited.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import re
import secrets
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path
from typing import Any

import aiohttp
import structlog
from aiohttp import web

from ..core.content import attachments_of
from ..core.errors import DecryptionFailed, ExchangeError, Malformed, NotFound, TooLarge
from ..core.evidence import CHUNK, BlobReader, BlobWriter, ManifestEntry, new_key, safe_filename
from ..core.peer_auth import HEADER, sign_call, verify_call
from ..store import audit
from ..store import evidence as store
from ..store.db import transaction
from . import api
from .auth import NODE_KEY, User, requires
from .bodies import multipart_step
from .peer import PEER_LIMITER_KEY
from .peer_client import pinned
from .service import Node

log = structlog.get_logger("exchange.evidence")
routes = web.RouteTableDef()
MEDIA_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,63}/[a-z0-9][a-z0-9!#$&^_.+-]{0,63}$")
HEX64 = re.compile(r"^[0-9a-f]{64}$")
# Shown inline never; served with these types only when the browser cannot run them.
SAFE_TYPES = frozenset({"application/pdf", "image/png", "image/jpeg", "text/plain"})


def blob_dir(node: Node) -> Path:
    path = node.config.data_dir / "blobs"
    path.mkdir(mode=0o700, exist_ok=True)
    return path


def blob_path(node: Node, blob_sha256: str) -> Path:
    if not HEX64.match(blob_sha256):
        raise Malformed("a blob is named by its lowercase hex SHA-256")
    return blob_dir(node) / blob_sha256


# --- upload by a local user ----------------------------------------------------------


async def receive_upload(node: Node, part: aiohttp.BodyPartReader, actor: str) -> dict[str, Any]:
    """Encrypt one uploaded file into a blob while it streams in; record it."""
    limit = node.config.limits.max_attachment_bytes
    media = (part.headers.get("Content-Type") or "application/octet-stream").split(";")[0]
    media = media.strip().lower() if MEDIA_TYPE.match(media.strip().lower()) else ""
    key = new_key()
    writer = BlobWriter(key)
    temp = blob_dir(node) / f".upload-{secrets.token_hex(8)}"
    handle = await asyncio.to_thread(temp.open, "xb")
    try:
        while chunk := await multipart_step(part.read_chunk(CHUNK)):
            if writer.size + len(chunk) > limit:
                raise TooLarge(f"an attachment may have at most {limit} bytes")
            await asyncio.to_thread(handle.write, writer.write(chunk))
        await asyncio.to_thread(handle.write, writer.finish())
        await asyncio.to_thread(_sync_close, handle)
        entry = ManifestEntry(
            id=secrets.token_hex(12),
            filename=safe_filename(part.filename or "attachment"),
            media_type=media or "application/octet-stream",
            size=writer.size,
            sha256=writer.plain_sha256.hexdigest(),
            blob_sha256=writer.blob_sha256.hexdigest(),
            blob_size=writer.blob_size,
            key=key,
        )
        await asyncio.to_thread(os.replace, temp, blob_path(node, entry.blob_sha256))
    except BaseException:
        handle.close()
        await asyncio.to_thread(temp.unlink, True)  # nothing half-written stays behind
        raise
    now = node.clock.now()

    def save(conn: Any) -> None:
        with transaction(conn):
            store.record(conn, node.vault, entry, owner=actor, now=now)
            audit.append(conn, at=now, authority=node.me, action="attachment_uploaded",
                         actor=actor, attachment_id=entry.id, sha256=entry.sha256,
                         size=entry.size)  # fmt: skip

    await node.db.run(save)
    log.info("attachment_uploaded", attachment_id=entry.id, size=entry.size)
    return {k: v for k, v in entry.public().items() if k != "blob_sha256"}


def _sync_close(handle: Any) -> None:
    handle.flush()
    os.fsync(handle.fileno())
    handle.close()


@routes.post("/api/attachments")
@requires("investigator", "liaison")
async def api_upload(request: web.Request, user: User) -> web.Response:
    node: Node = request.app[NODE_KEY]
    limit = node.config.limits.max_attachment_bytes
    if request.content_length is not None and request.content_length > limit + 64 * 1024:
        raise TooLarge(f"an attachment may have at most {limit} bytes")
    if not request.content_type.startswith("multipart/form-data"):
        raise Malformed("send the file as multipart/form-data with one part named 'file'")
    reader = await multipart_step(request.multipart())
    part = await multipart_step(reader.next())
    if not isinstance(part, aiohttp.BodyPartReader) or part.name != "file":
        raise Malformed("send the file as multipart/form-data with one part named 'file'")
    uploaded = await receive_upload(node, part, user.username)
    return web.json_response(uploaded, status=201)


# --- transfer between nodes -----------------------------------------------------------


@routes.put("/v1/blobs/{sha256}")
async def put_blob(request: web.Request) -> web.Response:
    node: Node = request.app[NODE_KEY]
    expected = request.match_info["sha256"]
    target = blob_path(node, expected)
    caller = verify_call(
        request.headers.get(HEADER),
        method=request.method,
        path=request.path_qs,
        me=node.me,
        body_sha256=expected,
        directory=node.directory.require(),
        now=node.clock.now(),
    )
    request.app[PEER_LIMITER_KEY].take(caller, node.clock.now())
    limit = node.config.limits.max_attachment_bytes * 2 + 1024 * 1024  # blob overhead
    if request.content_length is not None and request.content_length > limit:
        raise TooLarge("blob is larger than this node accepts")
    if await asyncio.to_thread(target.exists):
        return web.json_response({"stored": expected})  # sent before: nothing to do
    digest, size = hashlib.sha256(), 0
    temp = blob_dir(node) / f".peer-{secrets.token_hex(8)}"
    handle = await asyncio.to_thread(temp.open, "xb")
    try:
        while chunk := await request.content.read(CHUNK):
            size += len(chunk)
            if size > limit:
                raise TooLarge("blob is larger than this node accepts")
            digest.update(chunk)
            await asyncio.to_thread(handle.write, chunk)
        if digest.hexdigest() != expected:
            raise Malformed("blob does not match its SHA-256")
        await asyncio.to_thread(_sync_close, handle)
        await asyncio.to_thread(os.replace, temp, target)
    except BaseException:
        handle.close()
        await asyncio.to_thread(temp.unlink, True)
        raise
    log.info("blob_received", peer=caller, size=size)
    return web.json_response({"stored": expected})


async def upload_blobs(
    node: Node, session: aiohttp.ClientSession, peer: str, msg_ids: list[str]
) -> None:
    """Send the peer every blob these messages need that it does not have yet."""
    pending = await node.db.run(lambda c: store.to_upload(c, msg_ids))
    if not pending:
        return
    authority = node.directory.require().get(peer)
    if authority is None:
        raise ExchangeError("peer left the directory", code="unknown_sender")
    for item in pending:
        path = f"/v1/blobs/{item['blob_sha256']}"
        now = node.clock.now()
        auth = sign_call(method="PUT", path=path, sender=node.me, recipient=peer,
                         key=node.signing_key(now), now=now,
                         body_sha256=item["blob_sha256"])  # fmt: skip
        file = blob_path(node, item["blob_sha256"])
        timeout = aiohttp.ClientTimeout(
            total=None, sock_read=node.config.delivery.request_timeout.total_seconds()
        )
        async with session.put(
            authority.node_url.rstrip("/") + path,
            data=_read_file(file),
            headers={HEADER: auth, "Content-Type": "application/octet-stream",
                     "Content-Length": str(item["blob_size"])},
            ssl=pinned(*authority.tls_pins),
            timeout=timeout,
        ) as response:  # fmt: skip
            await response.read()
            if response.status != 200:
                raise ExchangeError(f"peer refused a blob: HTTP {response.status}", code="blob")
        await node.db.run(partial(store.mark_uploaded, attachment_id=str(item["id"])))


async def _read_file(path: Path) -> AsyncIterator[bytes]:
    handle = await asyncio.to_thread(path.open, "rb")
    try:
        while chunk := await asyncio.to_thread(handle.read, CHUNK * 4):
            yield chunk
    finally:
        handle.close()


def check_blobs_present(node: Node, content: dict[str, Any]) -> None:
    """Before accepting a message: every blob it names is here, whole (else retry)."""
    limit = node.config.limits.max_attachment_bytes
    for entry in attachments_of(content):
        if entry.size > limit:
            raise TooLarge(f"an attachment may have at most {limit} bytes")
        path = blob_path(node, entry.blob_sha256)
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            raise NotFound("an attachment of this message has not arrived yet") from None
        if size != entry.blob_size:
            raise Malformed("an attachment does not have the size the message states")


# --- download -------------------------------------------------------------------------


@routes.get("/api/requests/{id}/attachments/{attachment_id}")
@requires("investigator", "liaison")
async def api_download(request: web.Request, user: User) -> web.StreamResponse:
    node: Node = request.app[NODE_KEY]
    request_id, wanted = request.match_info["id"], request.match_info["attachment_id"]
    entry = await find_attachment(node, user, request_id, wanted)
    now = node.clock.now()

    def opened(conn: Any) -> None:
        with transaction(conn):
            audit.append(conn, at=now, authority=node.me, action="attachment_opened",
                         actor=user.username, request_id=request_id, attachment_id=entry.id,
                         sha256=entry.sha256)  # fmt: skip

    await node.db.run(opened)
    return await stream_plaintext(request, node, entry)


async def find_attachment(node: Node, user: User, request_id: str, wanted: str) -> ManifestEntry:
    view = await api.load_request(node, user, request_id)
    for message in view["messages"]:
        for entry in attachments_of(message["content"]):
            if entry.id == wanted:
                return entry
    raise NotFound("no such attachment")


async def stream_plaintext(
    request: web.Request, node: Node, entry: ManifestEntry
) -> web.StreamResponse:
    media = entry.media_type if entry.media_type in SAFE_TYPES else "application/octet-stream"
    response = web.StreamResponse(
        headers={
            "Content-Type": media,
            "Content-Disposition": f'attachment; filename="{safe_filename(entry.filename)}"',
            "Content-Length": str(entry.size),
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-store",
        }
    )
    await response.prepare(request)
    reader = BlobReader(entry.key)
    digest = hashlib.sha256()
    try:
        async for piece in _read_file(blob_path(node, entry.blob_sha256)):
            plain = reader.feed(piece)
            digest.update(plain)
            await response.write(plain)
        reader.close()
        if digest.hexdigest() != entry.sha256:
            raise DecryptionFailed("attachment does not match its signed hash")
    except DecryptionFailed:
        log.error("attachment_corrupt", attachment_id=entry.id)
        with contextlib.suppress(Exception):
            request.transport.close()  # type: ignore[union-attr]  # the client must not trust it
        raise
    await response.write_eof()
    return response
