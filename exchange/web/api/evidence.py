"""Evidence files in the local API (``exchange.service.evidence`` does the work).

* ``POST /api/attachments`` (investigator, liaison): one multipart part ``file``;
  encrypted while it streams in; 201 with ``{id, filename, media_type, size, sha256}``.
* ``GET /api/requests/{id}/attachments/{attachment_id}``: decrypted as it streams out,
  checked against the signed hash; opening it is audited.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import aiohttp
import structlog
from aiohttp import web

from ...core import roles
from ...core.errors import DecryptionFailed, Malformed, TooLarge
from ...core.evidence import CHUNK, safe_filename
from ...service import evidence
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
