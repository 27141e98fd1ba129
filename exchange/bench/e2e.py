"""End-to-end: two node processes with TLS; N requests through node A's local API,
timed until every signed receipt is stored back at A (each step a durable commit:
WAL with synchronous=FULL)."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from ..core.canonical import parse_time
from ..node.peer_client import pinned
from ..runloop import run as run_loop
from .local_federation import BenchNode, provision
from .processes import cpu_seconds, peak_rss_mb, spawn, stop, wait_healthy

BATCH_SIZE = 100  # envelopes per transaction
PIPELINE = 8  # transactions in flight per peer (the default is 4)
CONFIG = f"""
[delivery]
backoff_initial_seconds = 0.05
backoff_max_seconds = 0.5
batch_size = {BATCH_SIZE}
pipeline = {PIPELINE}
"""


def payload(size: int) -> dict[str, Any]:
    return {
        "to": "MA-CNA",
        "kind": "information_request",
        "urgency": "urgent",
        "subject": "Benchmark request",
        "body": "x" * size,
        "language": "en",
    }


async def _login(session: aiohttp.ClientSession, node: BenchNode) -> str:
    async with session.post(
        node.url + "/api/login",
        json={"username": "investigator", "password": node.password},
        ssl=pinned(node.fingerprint.hex()),
    ) as r:
        body = await r.json()
        assert r.status == 200, body
        return str(body["csrf_token"])


async def _create(session: aiohttp.ClientSession, node: BenchNode, csrf: str, body: bytes) -> None:
    async with session.post(
        node.url + "/api/requests",
        data=body,
        headers={"X-CSRF-Token": csrf, "Content-Type": "application/json"},
        ssl=pinned(node.fingerprint.hex()),
    ) as r:
        if r.status != 201:
            raise RuntimeError(f"create failed: {r.status} {await r.text()}")


def _delivered(db: Path) -> list[tuple[str, str]]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return conn.execute(
            "SELECT created_at, delivered_at FROM requests "
            "WHERE direction = 'out' AND delivered_at IS NOT NULL"
        ).fetchall()
    finally:
        conn.close()


def _count_delivered(db: Path) -> int:
    """How many sent requests have their receipt stored (an index-only count: the
    poll must not load the machine it measures)."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        row = conn.execute(
            "SELECT COUNT(*) FROM requests WHERE direction = 'out' AND status = 'delivered'"
        ).fetchone()
        return int(row[0])
    finally:
        conn.close()


async def _wait_all(db: Path, n: int, within: float) -> list[tuple[str, str]]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        count = await asyncio.to_thread(_count_delivered, db)
        if count >= n:
            return await asyncio.to_thread(_delivered, db)
        if loop.time() > deadline:
            raise TimeoutError(f"only {count} of {n} delivered")
        await asyncio.sleep(0.02)


def _latencies(rows: list[tuple[str, str]]) -> list[float]:
    return sorted((parse_time(d) - parse_time(c)).total_seconds() * 1000 for c, d in rows)


async def _run(
    a: BenchNode, b: BenchNode, n: int, concurrency: int, size: int, offered_rps: float | None
) -> dict[str, Any]:
    jar = aiohttp.CookieJar(unsafe=True)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(cookie_jar=jar, connector=connector) as session:
        csrf = await _login(session, a)
        already = len(await asyncio.to_thread(_delivered, a.data / "exchange.db"))
        queue: asyncio.Queue[int] = asyncio.Queue()
        for i in range(n):
            queue.put_nowait(i)
        body = json.dumps(payload(size)).encode()  # the same request each time
        started = time.perf_counter()

        async def worker() -> None:
            while not queue.empty():
                i = queue.get_nowait()
                if offered_rps:
                    delay = started + i / offered_rps - time.perf_counter()
                    if delay > 0:
                        await asyncio.sleep(delay)
                await _create(session, a, csrf, body)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        rows = await _wait_all(a.data / "exchange.db", already + n, within=120 + n / 50)
        elapsed = time.perf_counter() - started
    latencies = _latencies(rows[already:]) if already else _latencies(rows)
    return {
        "seconds": elapsed,
        "rps": n / elapsed,
        "p50_ms": statistics.median(latencies),
        "p99_ms": latencies[max(0, int(len(latencies) * 0.99) - 1)],
    }


def run(n: int, concurrency: int, size: int, work: Path | None = None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(dir=work) as tmp:
        root = Path(tmp)
        a, b = provision(root, ["ES-CNA", "MA-CNA"], extra_config=CONFIG)
        procs = [
            spawn(
                ["-m", "exchange", "node", "--data", str(x.data), "--log-format", "json"],
                root / f"{x.authority_id}.log",
            )
            for x in (a, b)
        ]
        try:
            run_loop(_healthy(a, b))
            run_loop(_run(a, b, min(200, n), concurrency, size, None))  # warm-up
            cpu_before = [cpu_seconds(p.pid) for p in procs]
            main = run_loop(_run(a, b, n, concurrency, size, None))
            cpu = sum(cpu_seconds(p.pid) - c for p, c in zip(procs, cpu_before, strict=True))
            paced_n = 600
            paced = run_loop(_run(a, b, paced_n, concurrency, size, 200.0))
            rss = [peak_rss_mb(p.pid) for p in procs]
        finally:
            for p in procs:
                stop(p)
    return {
        "exchange_requests": n,
        "exchange_seconds": main["seconds"],
        "exchange_rps": main["rps"],
        "p50_ms": main["p50_ms"],
        "p99_ms": main["p99_ms"],
        "cpu_ms_per_request": cpu / n * 1000,
        "paced_200rps_p50_ms": paced["p50_ms"],
        "paced_200rps_p99_ms": paced["p99_ms"],
        "peak_rss_mb_sender": rss[0],
        "peak_rss_mb_receiver": rss[1],
        "sqlite_synchronous": "FULL (WAL)",
        "delivery_batch_size": BATCH_SIZE,
        "delivery_pipeline": PIPELINE,
    }


async def _healthy(a: BenchNode, b: BenchNode) -> None:
    await asyncio.gather(wait_healthy(a.url, a.fingerprint), wait_healthy(b.url, b.fingerprint))
