"""A hostile receiver (MA-CNA's node replaced by a server on its address and with its
TLS certificate) refuses every part of a file with 507 and words of its choosing as
the error code: markup, a phone number to call, a string of kilobytes. The sender
retries, and what it keeps as the outbox's last error (shown on the admin page) is
only a code of our own list: ``insufficient_storage`` when the peer says its disk is
full, else ``blob``; never the peer's words."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from exchange.node.app import server_ssl_context

from ..federation import FAST_DELIVERY, ApiClient, Federation, wait_until
from ..node.test_resumable_uploads import REQUEST, start, tus
from ..storage import rows

WORDS = "<script>alert('disk')</script> call +33 1 00 00 00 00 " * 100


@dataclass
class FullPeer:
    """Answers HEAD of a blob (nothing held yet) and refuses each part with 507 and
    ``code`` as its error code."""

    code: str
    parts: int = 0

    async def head(self, request: web.Request) -> web.Response:
        return web.Response(headers={"Upload-Offset": "0", "Upload-Complete": "0"})

    async def patch(self, request: web.Request) -> web.Response:
        await request.read()
        self.parts += 1
        error = {"error": {"code": self.code, "message": self.code}}
        return web.Response(status=507, body=json.dumps(error), content_type="application/json")


@pytest.fixture
async def fed(tmp_path: Path) -> AsyncIterator[Federation]:
    fed = Federation.create(tmp_path, ["ES-CNA", "MA-CNA"], extra_config=FAST_DELIVERY)
    await fed.start("ES-CNA")
    yield fed
    await fed.stop()


async def serve(fed: Federation, peer: FullPeer) -> web.AppRunner:
    member = fed["MA-CNA"]
    app = web.Application()
    app.router.add_head("/v1/blobs/{sha256}", peer.head)
    app.router.add_patch("/v1/blobs/{sha256}", peer.patch)
    runner = web.AppRunner(app)
    await runner.setup()
    ssl = server_ssl_context(member.config.tls_cert, member.config.tls_key)
    await web.TCPSite(runner, "127.0.0.1", member.port, ssl_context=ssl).start()
    return runner


def last_errors(fed: Federation) -> list[Any]:
    return [row[0] for row in rows(fed["ES-CNA"].data, "SELECT last_error FROM outbox")]


async def test_a_peers_refusal_reaches_the_outbox_only_as_a_code_of_ours(
    fed: Federation,
) -> None:
    peer = FullPeer(WORDS)
    runner = await serve(fed, peer)
    investigator = await ApiClient(fed["ES-CNA"]).login("investigator")
    admin = await ApiClient(fed["ES-CNA"]).login("admin")
    try:
        where = await start(investigator, 100_000)
        status, _, done = await tus(investigator, "PATCH", where, b"x" * 100_000,
                                    Upload_Offset="0")  # fmt: skip
        assert status == 200, done
        status, created = await investigator.call(
            "POST", "/api/requests", {**REQUEST, "attachments": [done["id"]]}
        )
        assert status == 201, created
        await wait_until(lambda: peer.parts >= 2, what="two parts refused")
        await wait_until(lambda: last_errors(fed) == ["blob"], what="the refusal kept")
        peer.code = "insufficient_storage"  # the same peer, now with a code we keep
        seen = peer.parts
        await wait_until(lambda: peer.parts > seen + 1, what="refused again")
        await wait_until(lambda: last_errors(fed) == ["insufficient_storage"], what="its code kept")
        async with admin.session.get(admin.member.url + "/admin", ssl=admin.ssl) as response:
            page = await response.text()
        assert response.status == 200
        assert "insufficient_storage" in page
        assert "<script>alert" not in page and "+33 1 00" not in page
    finally:
        await investigator.close()
        await admin.close()
        await runner.cleanup()
