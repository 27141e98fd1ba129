"""Sending a message's evidence blobs to the peer before the message itself."""

from __future__ import annotations

import aiohttp

from ..core.errors import ExchangeError
from ..core.peer_auth import HEADER, sign_call
from ..service import evidence
from ..service.node import Node
from .peer_client import pinned


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
        path = f"/v1/blobs/{item.blob_sha256}"
        now = node.clock.now()
        auth = sign_call(method="PUT", path=path, sender=node.me, recipient=peer,
                         key=node.signing_key(now), now=now,
                         body_sha256=item.blob_sha256)  # fmt: skip
        file = evidence.blob_path(node, item.blob_sha256)
        timeout = aiohttp.ClientTimeout(
            total=None, sock_read=node.config.delivery.request_timeout.total_seconds()
        )
        async with session.put(
            authority.node_url.rstrip("/") + path,
            data=evidence.read_file(file),
            headers={HEADER: auth, "Content-Type": "application/octet-stream",
                     "Content-Length": str(item.blob_size)},
            ssl=pinned(*authority.tls_pins),
            timeout=timeout,
        ) as response:  # fmt: skip
            await response.read()
            if response.status != 200:
                raise ExchangeError(f"peer refused a blob: HTTP {response.status}", code="blob")
        await evidence.mark_uploaded(node, item.attachment_id)
