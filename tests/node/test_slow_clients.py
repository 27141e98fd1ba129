"""Slowloris: many clients that open a TLS connection and dribble a request never
finished do not block anyone else; every other call is served at once."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

from ..federation import ApiClient, Federation


async def test_stalled_clients_do_not_block_others(tmp_path: Path) -> None:
    fed = Federation.create(tmp_path, ["ES-CNA"])
    await fed.start()
    es = fed["ES-CNA"]
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # a hostile client does not care who we are
    stalled: list[asyncio.StreamWriter] = []
    try:
        for _ in range(50):
            _, writer = await asyncio.open_connection("127.0.0.1", es.port, ssl=context)
            writer.write(
                b"POST /api/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Content-Length: 100000\r\n\r\n{"
            )
            await writer.drain()
            stalled.append(writer)  # ...and never another byte

        async def served() -> None:
            client = await ApiClient(es).login("auditor")
            for _ in range(5):
                status, _ = await client.call("GET", "/api/me")
                assert status == 200
            await client.close()

        # a bound to turn a blocked server into a failure rather than a hang
        await asyncio.wait_for(served(), timeout=60)
    finally:
        for writer in stalled:
            writer.close()
        await fed.stop()


async def test_oversized_request_heads_are_refused(tmp_path: Path) -> None:
    fed = Federation.create(tmp_path, ["ES-CNA"])
    await fed.start()
    es = fed["ES-CNA"]
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    heads = {
        "a long header value": b"GET /v1/health HTTP/1.1\r\nHost: x\r\nX-Big: "
        + b"a" * 10_000
        + b"\r\n\r\n",
        "too many headers": b"GET /v1/health HTTP/1.1\r\nHost: x\r\n"
        + b"".join(b"X-H%d: v\r\n" % i for i in range(200))
        + b"\r\n",
        "a long request line": b"GET /v1/health?" + b"q" * 10_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    }
    try:
        for what, head in heads.items():
            reader, writer = await asyncio.open_connection("127.0.0.1", es.port, ssl=context)
            writer.write(head)
            await writer.drain()
            answer = await asyncio.wait_for(reader.read(), timeout=30)  # then it closes
            assert answer.startswith(b"HTTP/1.0 400 Bad Request"), what
            writer.close()
        client = await ApiClient(es).login("auditor")  # and everyone else is served
        status, _ = await client.call("GET", "/api/me")
        assert status == 200
        await client.close()
    finally:
        await fed.stop()
