"""Evidence files in the local API (``exchange.service.evidence`` does the work).

* ``POST /api/attachments`` (investigator, liaison): one multipart part ``file``;
  encrypted while it streams in; 201 with ``{id, filename, media_type, size, sha256}``.
* ``GET /api/requests/{id}/attachments/{attachment_id}``: decrypted as it streams out,
  checked against the signed hash; opening it is audited.
* ``POST /api/uploads``, ``HEAD`` / ``PATCH /api/uploads/{id}``: the same upload,
  resumable (the core of tus 1.0; ``service/uploads.py``); once whole, the upload's id
  is the attachment's.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
from collections.abc import AsyncIterator

import aiohttp
import structlog
from aiohttp import web

from ...core import roles
from ...core.errors import DecryptionFailed, Malformed, TooLarge, UnsupportedMediaType
from ...core.evidence import CHUNK, safe_filename
from ...service import evidence, uploads
from ...service.sessions import User
from ..appkeys import NODE_KEY
from ..auth import requires
from ..multipart import multipart_step

log = structlog.get_logger("exchange.evidence")
routes = web.RouteTableDef()
# Served with these types only when the browser cannot run them; shown inline never.
SAFE_TYPES = frozenset({"application/pdf", "image/png", "image/jpeg", "text/plain"})


async def part_chunks(part: aiohttp.BodyPartReader) -> AsyncIterator[bytes]:
    while chunk := await multipart_step(part.read_chunk(CHUNK)):
        yield chunk


async def receive_upload(
    request: web.Request, part: aiohttp.BodyPartReader, user: User
) -> evidence.Upload:
    """Store one uploaded file part (encrypted as it streams in)."""
    return await evidence.upload(
        request.app[NODE_KEY],
        part_chunks(part),
        filename=part.filename or "attachment",
        media_type=evidence.media_type_of(part.headers.get("Content-Type")),
        actor=user.username,
    )


@routes.post("/api/attachments")
@requires(*roles.CONTENT)
async def api_upload(request: web.Request, user: User) -> web.Response:
    limit = request.app[NODE_KEY].config.limits.max_attachment_bytes
    if request.content_length is not None and request.content_length > limit + 64 * 1024:
        raise TooLarge(f"an attachment may have at most {limit} bytes")
    if not request.content_type.startswith("multipart/form-data"):
        raise Malformed("send the file as multipart/form-data with one part named 'file'")
    reader = await multipart_step(request.multipart())
    part = await multipart_step(reader.next())
    if not isinstance(part, aiohttp.BodyPartReader) or part.name != "file":
        raise Malformed("send the file as multipart/form-data with one part named 'file'")
    uploaded = await receive_upload(request, part, user)
    return web.json_response(uploaded.to_json(), status=201)


@routes.get("/api/requests/{id}/attachments/{attachment_id}")
@requires(*roles.CONTENT)
async def api_download(request: web.Request, user: User) -> web.StreamResponse:
    node = request.app[NODE_KEY]
    entry = await evidence.open_attachment(
        node, user, request.match_info["id"], request.match_info["attachment_id"]
    )
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
    try:
        async for plain in evidence.plaintext(node, entry):
            await response.write(plain)
    except DecryptionFailed:
        log.error("attachment_corrupt", attachment_id=entry.id)
        with contextlib.suppress(Exception):
            request.transport.close()  # type: ignore[union-attr]  # the client must not trust it
        raise
    await response.write_eof()
    return response


TUS = {"Tus-Resumable": "1.0.0", "Cache-Control": "no-store"}


@routes.post("/api/uploads")
@requires(*roles.CONTENT)
async def api_upload_create(request: web.Request, user: User) -> web.Response:
    """tus creation: ``Upload-Length`` (required) and ``Upload-Metadata`` (``filename``,
    ``filetype``, base64); 201 with ``Location`` and ``{id, offset, length}``."""
    length = _header_number(request, "Upload-Length")
    metadata = _metadata(request.headers.get("Upload-Metadata", ""))
    upload_id = await uploads.create(
        request.app[NODE_KEY], owner=user.username, length=length,
        filename=metadata.get("filename", "attachment"),
        media_type=evidence.media_type_of(metadata.get("filetype")),
    )  # fmt: skip
    location = f"/api/uploads/{upload_id}"
    body = {"id": upload_id, "offset": 0, "length": length}
    headers = {**TUS, "Location": location, "Upload-Offset": "0"}
    return web.json_response(body, status=201, headers=headers)


@routes.head("/api/uploads/{id}")
@requires(*roles.CONTENT)
async def api_upload_head(request: web.Request, user: User) -> web.Response:
    offset, length = await uploads.where(
        request.app[NODE_KEY], request.match_info["id"], owner=user.username
    )
    return web.Response(headers={**TUS, "Upload-Offset": str(offset), "Upload-Length": str(length)})


@routes.patch("/api/uploads/{id}")
@requires(*roles.CONTENT)
async def api_upload_patch(request: web.Request, user: User) -> web.Response:
    """tus PATCH: the bytes at ``Upload-Offset``; 204 with the new ``Upload-Offset``, or
    200 with the attachment (``{id, filename, media_type, size, sha256}``) once whole."""
    if request.content_type != "application/offset+octet-stream":
        raise UnsupportedMediaType("send a part as application/offset+octet-stream")
    offset = _header_number(request, "Upload-Offset")
    done, stored = await uploads.append(
        request.app[NODE_KEY], request.match_info["id"], _request_chunks(request),
        owner=user.username, offset=offset, size_hint=request.content_length,
    )  # fmt: skip
    headers = {**TUS, "Upload-Offset": str(done)}
    if stored is None:
        return web.Response(status=204, headers=headers)
    return web.json_response(stored.to_json(), headers=headers)


async def _request_chunks(request: web.Request) -> AsyncIterator[bytes]:
    while chunk := await request.content.read(CHUNK):
        yield chunk


def _header_number(request: web.Request, name: str) -> int:
    value = request.headers.get(name, "")
    if not value.isascii() or not value.isdigit() or len(value) > 15:
        raise Malformed(f"{name} must be a non-negative decimal integer")
    return int(value)


def _metadata(header: str) -> dict[str, str]:
    """tus ``Upload-Metadata``: ``key base64,key base64``; keys other than ``filename``
    and ``filetype`` are ignored."""
    found: dict[str, str] = {}
    if len(header) > 2048:
        raise Malformed("Upload-Metadata is too long")
    for pair in filter(None, (p.strip() for p in header.split(","))):
        name, _, value = pair.partition(" ")
        try:
            text = base64.b64decode(value, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise Malformed(f"Upload-Metadata {name[:40]!r} is not base64 text") from None
        if name in ("filename", "filetype"):
            found[name] = text
    return found
