"""The bare transport in the same run: plain HTTPS POSTs of the same payload size
between two aiohttp processes (no signing, no encryption, no storage)."""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
from aiohttp import web

from ..core.canonical import JsonObject
from ..node.app import server_ssl_context
from ..ops.keyfiles import create_tls_certificate, tls_fingerprint
from ..runloop import new_loop
from ..runloop import run as run_loop
from .client import Connection, post_head
from .local_federation import free_port
from .processes import spawn, stop


async def _ok(request: web.Request) -> web.Response:
    await request.read()
    return web.json_response({"ok": True})


async def _health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def serve(port: int, keys: Path) -> None:
    """Entry point of the bare server process."""
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_post("/", _ok)
    app.router.add_get("/v1/health", _health)
    context = server_ssl_context(keys / "tls.crt", keys / "tls.key")
    web.run_app(
        app,
        host="127.0.0.1",
        port=port,
        ssl_context=context,
        print=None,
        access_log=None,
        loop=new_loop(),  # the same loop as the nodes: a like-for-like baseline
    )


async def _client(url: str, fingerprint: bytes, n: int, concurrency: int, body: bytes) -> float:
    """aiohttp's client to aiohttp's server: the bare transport the issue names."""
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        queue = list(range(n))
        pin = aiohttp.Fingerprint(fingerprint)
        started = time.perf_counter()

        async def worker() -> None:
            while queue:
                queue.pop()
                async with session.post(url + "/", data=body, ssl=pin) as response:
                    await response.read()
                    assert response.status == 200

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - started


async def _lean_client(
    port: int, fingerprint: bytes, n: int, concurrency: int, body: bytes
) -> float:
    """The end-to-end run's load generator (bench/client.py) against the same server."""
    head = post_head(f"127.0.0.1:{port}", "/", len(body))
    connections = [
        await Connection.open("127.0.0.1", port, fingerprint) for _ in range(concurrency)
    ]
    queue = list(range(n))
    started = time.perf_counter()

    async def worker(conn: Connection) -> None:
        while queue:
            queue.pop()
            status, _, _ = await conn.request(head, body)
            assert status == 200

    try:
        await asyncio.gather(*(worker(c) for c in connections))
        return time.perf_counter() - started
    finally:
        for conn in connections:
            await conn.close()


def run(n: int, concurrency: int, size: int) -> JsonObject:
    from .processes import wait_healthy

    body = json.dumps({"subject": "Benchmark request", "body": "x" * size}).encode()
    with tempfile.TemporaryDirectory() as tmp:
        keys = Path(tmp)
        create_tls_certificate(keys, common_name="bare", hosts=["127.0.0.1"])
        fingerprint = bytes.fromhex(tls_fingerprint(keys / "tls.crt"))
        port = free_port()
        process = spawn(["-m", "exchange.bench.bare", str(port), str(keys)], keys / "bare.log")
        url = f"https://127.0.0.1:{port}"
        try:
            run_loop(wait_healthy(url, fingerprint))
            run_loop(_client(url, fingerprint, min(n, 200), concurrency, body))
            seconds = run_loop(_client(url, fingerprint, n, concurrency, body))
            lean = run_loop(_lean_client(port, fingerprint, n, concurrency, body))
        finally:
            stop(process)
    return {
        "bare_requests": n,
        "bare_seconds": seconds,
        "bare_rps": n / seconds,
        # the same server driven by the end-to-end run's lean load generator
        "bare_rps_lean_client": n / lean,
    }


if __name__ == "__main__":
    serve(int(sys.argv[1]), Path(sys.argv[2]))
