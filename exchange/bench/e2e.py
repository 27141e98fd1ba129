"""End-to-end: two node processes with TLS; N requests through node A's local API,
timed until every signed receipt is stored back at A (each step a durable commit:
WAL with synchronous=FULL)."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import aiohttp
from yarl import URL

from ..core.canonical import JsonObject, parse_time
from ..runloop import run as run_loop
from ..workers.peer_client import pinned
from .client import Connection, post_head
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


def payload(size: int) -> JsonObject:
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
) -> JsonObject:
    jar = aiohttp.CookieJar(unsafe=True)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(cookie_jar=jar, connector=connector) as session:
        csrf = await _login(session, a)
        already = len(await asyncio.to_thread(_delivered, a.data / "exchange.db"))
        queue: asyncio.Queue[int] = asyncio.Queue()
        for i in range(n):
            queue.put_nowait(i)
        body = json.dumps(payload(size)).encode()  # the same request each time
        cookies = session.cookie_jar.filter_cookies(URL(a.url))
        cookie = "; ".join(f"{k}={m.value}" for k, m in cookies.items())
        head = post_head(
            f"127.0.0.1:{a.port}",
            "/api/requests",
            len(body),
            {"Cookie": cookie, "X-CSRF-Token": csrf},
        )
        connections = [
            await Connection.open("127.0.0.1", a.port, a.fingerprint) for _ in range(concurrency)
        ]
        started = time.perf_counter()

        async def worker(conn: Connection) -> None:
            while not queue.empty():
                i = queue.get_nowait()
                if offered_rps:
                    delay = started + i / offered_rps - time.perf_counter()
                    if delay > 0:
                        await asyncio.sleep(delay)
                status, _, answer = await conn.request(head, body)
                if status != 201:
                    raise RuntimeError(f"create failed: {status} {answer[:200]!r}")

        try:
            await asyncio.gather(*(worker(c) for c in connections))
        finally:
            for conn in connections:
                await conn.close()
        rows = await _wait_all(a.data / "exchange.db", already + n, within=120 + n / 50)
        elapsed = time.perf_counter() - started
    latencies = _latencies(rows[already:]) if already else _latencies(rows)
    return {
        "seconds": elapsed,
        "rps": n / elapsed,
        "p50_ms": statistics.median(latencies),
        "p99_ms": latencies[max(0, int(len(latencies) * 0.99) - 1)],
    }


def _start(node: BenchNode, root: Path) -> subprocess.Popen[bytes]:
    args = ["-m", "exchange", "node", "--data", str(node.data), "--log-format", "json"]
    return spawn(args, root / f"{node.authority_id}.log")


def run(n: int, concurrency: int, size: int, work: Path | None = None) -> JsonObject:
    with tempfile.TemporaryDirectory(dir=work) as tmp:
        root = Path(tmp)
        a, b = provision(root, ["ES-CNA", "MA-CNA"], extra_config=CONFIG)
        procs = [_start(a, root), _start(b, root)]
        try:
            run_loop(_healthy(a, b))
            run_loop(_run(a, b, min(200, n), concurrency, size, None))  # warm-up
            cpu_before = [cpu_seconds(p.pid) for p in procs]
            generator_before = time.process_time()  # this process: the load generator
            main = run_loop(_run(a, b, n, concurrency, size, None))
            spent = [cpu_seconds(p.pid) - c for p, c in zip(procs, cpu_before, strict=True)]
            generator = time.process_time() - generator_before
            cpu = sum(spent)
            paced_n = 600
            paced = run_loop(_run(a, b, paced_n, concurrency, size, 200.0))
            rss = [peak_rss_mb(p.pid) for p in procs]
            # The receiver down, a backlog piles up at the sender, the receiver returns.
            stop(procs[1])
            backlog = max(n, 200)
            run_loop(_backlog(a, backlog, concurrency, size))
            procs[1] = _start(b, root)
            outage = run_loop(_after_outage(a, b, size))
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
        "cpu_ms_per_request_sender": spent[0] / n * 1000,
        "cpu_ms_per_request_receiver": spent[1] / n * 1000,
        "cpu_ms_per_request_load_generator": generator / n * 1000,
        "paced_200rps_p50_ms": paced["p50_ms"],
        "paced_200rps_p99_ms": paced["p99_ms"],
        "peak_rss_mb_sender": rss[0],
        "peak_rss_mb_receiver": rss[1],
        "sqlite_synchronous": "FULL (WAL)",
        "delivery_batch_size": BATCH_SIZE,
        "delivery_pipeline": PIPELINE,
        "outage_backlog": backlog,
        **outage,
    }


async def _backlog(a: BenchNode, n: int, concurrency: int, size: int) -> None:
    """``n`` standard requests queued at A while its peer is down."""
    body = json.dumps({**payload(size), "urgency": "standard"}).encode()
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(
        cookie_jar=aiohttp.CookieJar(unsafe=True), connector=connector
    ) as session:
        csrf = await _login(session, a)
        left = list(range(n))

        async def worker() -> None:
            while left:
                left.pop()
                await _create(session, a, csrf, body)

        await asyncio.gather(*(worker() for _ in range(concurrency)))


async def _after_outage(a: BenchNode, b: BenchNode, size: int) -> dict[str, float | int]:
    """Once the backlog has started to drain, one emergency and one standard request
    are created at the same moment: how long each takes to its stored receipt, and
    how long the backlog takes to drain."""
    await wait_healthy(b.url, b.fingerprint)
    db = a.data / "exchange.db"
    loop = asyncio.get_running_loop()
    started = loop.time()
    delivered = await asyncio.to_thread(_count_delivered, db)
    while await asyncio.to_thread(_count_delivered, db) == delivered:  # until it drains
        if loop.time() - started > 60:
            raise TimeoutError("the backlog did not start to drain")
        await asyncio.sleep(0.005)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        csrf = await _login(session, a)
        emergency, standard = await asyncio.gather(
            _create_id(session, a, csrf, {**payload(size), "urgency": "emergency"}),
            _create_id(session, a, csrf, {**payload(size), "urgency": "standard"}),
        )
    total = await asyncio.to_thread(_count_out, db)
    rows = await _wait_all(db, total, within=120)
    drained = loop.time() - started
    latency = {
        row_id: ms for row_id, ms in await asyncio.to_thread(_latency_of, db, [emergency, standard])
    }
    return {
        "outage_emergency_ms": latency[emergency],
        "outage_standard_ms": latency[standard],
        "outage_drain_s": drained,
        "outage_delivered": len(rows),
    }


async def _create_id(
    session: aiohttp.ClientSession, node: BenchNode, csrf: str, body: JsonObject
) -> str:
    async with session.post(
        node.url + "/api/requests",
        json=body,
        headers={"X-CSRF-Token": csrf},
        ssl=pinned(node.fingerprint.hex()),
    ) as r:
        answer = await r.json()
        if r.status != 201:
            raise RuntimeError(f"create failed: {r.status} {answer}")
        return str(answer["id"])


def _count_out(db: Path) -> int:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return int(
            conn.execute("SELECT COUNT(*) FROM requests WHERE direction = 'out'").fetchone()[0]
        )
    finally:
        conn.close()


def _latency_of(db: Path, ids: list[str]) -> list[tuple[str, float]]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        marks = ",".join("?" * len(ids))
        sql = f"SELECT id, created_at, delivered_at FROM requests WHERE id IN ({marks})"  # noqa: S608
        rows = conn.execute(sql, ids).fetchall()
    finally:
        conn.close()
    return [(i, (parse_time(d) - parse_time(c)).total_seconds() * 1000) for i, c, d in rows]


async def _healthy(a: BenchNode, b: BenchNode) -> None:
    await asyncio.gather(wait_healthy(a.url, a.fingerprint), wait_healthy(b.url, b.fingerprint))
