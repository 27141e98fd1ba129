"""``PUT /v1/blobs/{sha256}``: a sender's delivery worker uploads the blobs of a
message before the message; authenticated like every peer call, with the body's
hash in the signature; checked while it streams; idempotent.

``HEAD /v1/blobs/{sha256}`` and ``PATCH /v1/blobs/{sha256}?offset=..&length=..``: the
same upload resumable, in parts (``service/blob_parts.py``; docs/PROTOCOL.md)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import structlog
from aiohttp import web

from ...core.canonical import sha256_hex
from ...core.errors import Malformed, UnsupportedMediaType
from ...core.evidence import CHUNK
from ...service import blob_parts, evidence, peer_nonces
from ..appkeys import NODE_KEY
from .envelopes import accept_call, authenticate, check_auth

log = structlog.get_logger("exchange.evidence")
routes = web.RouteTableDef()


async def _body(request: web.Request) -> AsyncIterator[bytes]:
    while chunk := await request.content.read(CHUNK):
        yield chunk


@routes.put("/v1/blobs/{sha256}")
async def put_blob(request: web.Request) -> web.Response:
    node = request.app[NODE_KEY]
    expected = request.match_info["sha256"]
    evidence.blob_path(node, expected)  # a well-formed name before anything else
    caller = await authenticate(request, body_sha256=expected)
    size = await evidence.store_blob(
        node, expected, _body(request), peer=caller, size_hint=request.content_length
    )
    if size:
        log.info("blob_received", peer=caller, size=size)
    return web.json_response({"stored": expected})


@routes.head("/v1/blobs/{sha256}")
async def head_blob(request: web.Request) -> web.Response:
    """What the caller's upload of this blob holds: ``Upload-Offset`` bytes verified of
    ``Upload-Length`` (absent: no upload in progress); ``Upload-Complete: 1`` when the
    blob is whole here."""
    node = request.app[NODE_KEY]
    expected = request.match_info["sha256"]
    evidence.blob_path(node, expected)
    caller = await authenticate(request, body_sha256=sha256_hex(b""))
    held = await blob_parts.state(node, caller, expected)
    return web.Response(headers=_state_headers(held))


@routes.patch("/v1/blobs/{sha256}")
async def patch_blob(request: web.Request) -> web.Response:
    """One part of the caller's upload at ``offset`` of a blob of ``length`` bytes
    (both signed, in the query); the caller's signature covers the part's SHA-256."""
    node = request.app[NODE_KEY]
    expected = request.match_info["sha256"]
    evidence.blob_path(node, expected)
    auth = check_auth(request)  # header, key, time and nonce: before a byte is read
    offset, length = _number(request, "offset"), _number(request, "length")
    if request.content_type != "application/offset+octet-stream":
        raise UnsupportedMediaType("a part is sent as application/offset+octet-stream")
    held = await blob_parts.append(
        node, expected, _body(request), peer=auth.sender, offset=offset, length=length,
        part_size=request.content_length,
        verify=lambda part_sha256: accept_call(request, auth, part_sha256),
    )  # fmt: skip
    # claimed after the part, whose hash the signature covers; a replay of a part
    # another process took finds the offset moved and appends nothing
    await peer_nonces.claim(node, auth)
    response = web.json_response(
        {"offset": held.offset, "length": held.length, "complete": held.complete}
    )
    response.headers.update(_state_headers(held))
    return response


def _number(request: web.Request, name: str) -> int:
    values = request.query.getall(name, [])
    if len(values) != 1 or not values[0].isascii() or not values[0].isdigit():
        raise Malformed(f"{name} must be given once, as a non-negative decimal integer")
    if len(values[0]) > 15:
        raise Malformed(f"{name} is too large")
    return int(values[0])


def _state_headers(held: blob_parts.BlobState) -> dict[str, str]:
    headers = {"Upload-Offset": str(held.offset), "Upload-Complete": "1" if held.complete
               else "0", "Cache-Control": "no-store"}  # fmt: skip
    if held.length is not None:
        headers["Upload-Length"] = str(held.length)
    return headers
