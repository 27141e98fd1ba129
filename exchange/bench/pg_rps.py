"""``exchange bench --only pg``: end-to-end throughput of one authority served by 1, 2
and 4 sender processes on one PostgreSQL database (issue 18: ``pg_rps_1``, ``pg_rps_2``,
``pg_rps_4``), beside one process on SQLite in the same run and topology.

A throwaway cluster (``pg_cluster``) holds each PostgreSQL sender's database. Each
sender authority sends to the same receiving peers (SQLite nodes, one process each),
enough of them that the ``delivery:<peer>`` leases spread over the sender's processes
(``core.lease.delivery_share``). The client spreads its connections over the sender's
processes, as a load balancer would (one login: sessions are in the database), and
each request goes to the next peer in turn. A run is timed from the first request
until every signed receipt is stored back at the sender, as ``e2e``'s. Each count of
processes has its own sender authority and fresh database, so no run inherits
another's rows or leases. Afterwards every request is looked up at its recipient:
none lost, none stored twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from yarl import URL

from ..config import load_config
from ..core.canonical import JsonObject
from ..runloop import run as run_loop
from ..store.engine import open_reader
from .client import Connection, post_head
from .e2e import CONFIG, payload
from .local_federation import BenchNode, free_ports, provision
from .pg_cluster import Cluster
from .processes import cpu_seconds, spawn, stop, wait_healthy

CLUSTER = '\n[cluster]\nactive_active = true\n\n[metrics]\ntoken_file = "metrics.token"\n'
RECEIVERS = ("DE-CNA", "FR-CNA", "MA-CNA", "NL-CNA", "IT-CNA", "PL-CNA", "SE-CNA", "FI-CNA")
SENDERS: dict[int | str, str] = {
    "sqlite": "AT-CNA",
    1: "ES-CNA",
    2: "PT-CNA",
    3: "GR-CNA",
    4: "BE-CNA",
    8: "IE-CNA",
}
COUNTED = "SELECT COUNT(*) FROM requests WHERE direction = 'out' AND status = 'delivered'"


@dataclass
class Sender:
    node: BenchNode
    processes: int
    ports: list[int]

    @property
    def urls(self) -> list[str]:
        return [f"https://127.0.0.1:{p}" for p in self.ports]


def run(
    n: int = 3000,
    concurrency: int = 64,
    size: int = 2000,
    *,
    counts: tuple[int, ...] = (1, 2, 4),
    receivers: int = 4,
    sqlite: bool = True,
    work: Path | None = None,
) -> JsonObject:
    """One sender authority per count of processes (and one on SQLite unless not
    ``sqlite``), ``n`` requests each through ``concurrency`` connections, to
    ``receivers`` peers."""
    with contextlib.ExitStack() as stack:
        cluster = Cluster().start()
        stack.callback(cluster.stop)
        root = Path(stack.enter_context(tempfile.TemporaryDirectory(dir=work)))
        runs: list[tuple[int | str, int]] = [(k, k) for k in counts]
        if sqlite:
            runs.insert(0, ("sqlite", 1))
        ids = [*(SENDERS[k] for k, _ in runs), *RECEIVERS[:receivers]]
        urls = {SENDERS[k]: cluster.database() for k in counts}
        nodes = {
            b.authority_id: b for b in provision(root, ids, extra_config=CONFIG, storage_urls=urls)
        }
        peers = [nodes[r] for r in RECEIVERS[:receivers]]
        procs = [spawn(_node_args(p, p.port), root / f"{p.authority_id}.log") for p in peers]
        for p in procs:
            stack.callback(stop, p)
        run_loop(_all_healthy([(p.url, p.fingerprint) for p in peers]))
        result: JsonObject = {}
        lost = duplicated = 0
        for key, processes in runs:
            node = nodes[SENDERS[key]]
            if key != "sqlite":
                with (node.data / "node.toml").open("a") as handle:
                    handle.write(CLUSTER)
                token = node.data / "metrics.token"
                token.write_text(secrets.token_urlsafe(24))
                token.chmod(0o600)  # a node refuses a data folder open to others
            sender = Sender(node, processes, [node.port, *free_ports(processes - 1)])
            figures = _measure(sender, peers, root, n, concurrency, size)
            name = "pg_rps_sqlite" if key == "sqlite" else f"pg_rps_{key}"
            result[name] = figures["rps"]
            result[f"{name}_cpu_ms_per_request"] = figures["cpu_ms"]
            if key != "sqlite":
                result[f"{name}_postgres_cpu_ms_per_request"] = figures["pg_cpu_ms"]
                # what bounds it: round trips a request, and the share of the run's
                # time some process's write transaction held the one write lock
                result[f"{name}_round_trips_per_request"] = figures["round_trips"]
                result[f"{name}_write_transactions_per_request"] = figures["transactions"]
                result[f"{name}_write_lock_busy"] = figures["lock_busy"]
            missing, twice = _check(node, peers, int(figures["created"]))
            lost, duplicated = lost + missing, duplicated + twice
        if "pg_rps_1" in result and "pg_rps_2" in result:
            result["pg_rps_2_vs_1"] = float(result["pg_rps_2"]) / float(result["pg_rps_1"])
        result.update(
            {
                "pg_rps_requests": n,
                "pg_rps_receivers": receivers,
                "pg_rps_lost": lost,
                "pg_rps_duplicated": duplicated,
                "pg_rps_loadavg": round(os.getloadavg()[0], 2),
            }
        )
        return result


def _node_args(node: BenchNode, port: int) -> list[str]:
    return ["-m", "exchange", "node", "--data", str(node.data), "--port", str(port)]


def _measure(
    sender: Sender, peers: list[BenchNode], root: Path, n: int, concurrency: int, size: int
) -> dict[str, float | int]:
    """Start the sender's processes, warm up, run ``n`` requests, stop them."""
    node = sender.node
    procs = [
        spawn(_node_args(node, port), root / f"{node.authority_id}-{i}.log")
        for i, port in enumerate(sender.ports)
    ]
    try:
        try:
            run_loop(_all_healthy([(u, node.fingerprint) for u in sender.urls]))
        except TimeoutError as exc:  # say why: the end of each process's log
            logs = [(root / f"{node.authority_id}-{i}.log") for i in range(len(procs))]
            tails = "\n".join(log.read_text(errors="replace")[-1500:] for log in logs)
            raise RuntimeError(f"{exc}:\n{tails}") from exc
        warm = min(200, n)
        run_loop(_load(sender, peers, warm, concurrency, size))
        pg = _postgres_pids(node)
        storage = run_loop(_storage(sender))
        before = [cpu_seconds(p.pid) for p in procs]
        pg_before = sum(cpu_seconds(p) for p in pg)
        started = time.perf_counter()
        run_loop(_load(sender, peers, n, concurrency, size))
        run_loop(_delivered(node, warm + n, within=120 + n / 20))
        elapsed = time.perf_counter() - started
        spent = sum(cpu_seconds(p.pid) for p in procs) - sum(before)
        pg_spent = sum(cpu_seconds(p) for p in _alive(pg)) - pg_before
        storage = {k: v - storage.get(k, 0.0) for k, v in run_loop(_storage(sender)).items()}
    finally:
        for p in procs:
            stop(p)
    return {
        "rps": n / elapsed,
        "cpu_ms": spent / n * 1000,
        "pg_cpu_ms": pg_spent / n * 1000,
        "round_trips": storage.get("round_trips", 0.0) / n,
        "transactions": storage.get("transactions", 0.0) / n,
        # in one process transactions never overlap: their time over the run's is the
        # share of it the lock was held; with several it includes waiting for the lock
        "lock_busy": storage.get("transaction_seconds", 0.0) / elapsed,
        "created": warm + n,
    }


async def _storage(sender: Sender) -> dict[str, float]:
    """The ``exchange_storage_*`` figures of the sender's processes, summed (none on
    SQLite: it has no metrics token)."""
    token_file = sender.node.data / "metrics.token"
    if not token_file.exists():
        return {}
    headers = {"Authorization": f"Bearer {token_file.read_text().strip()}"}
    found: dict[str, float] = {}
    async with aiohttp.ClientSession() as session:
        for url in sender.urls:
            async with session.get(
                url + "/metrics", headers=headers, ssl=aiohttp.Fingerprint(sender.node.fingerprint)
            ) as r:
                text = await r.text()
                if r.status != 200:
                    raise RuntimeError(f"metrics: {r.status} {text[:200]}")
            for line in text.splitlines():
                if line.startswith("exchange_storage_"):
                    name, value = line.split()
                    key = name.removeprefix("exchange_storage_")
                    found[key] = found.get(key, 0.0) + float(value)
    return found


async def _all_healthy(targets: list[tuple[str, bytes]]) -> None:
    await asyncio.gather(*(wait_healthy(url, fp) for url, fp in targets))


async def _load(
    sender: Sender, peers: list[BenchNode], n: int, concurrency: int, size: int
) -> None:
    """``n`` requests, each to the next peer, over ``concurrency`` connections spread
    over the sender's processes; one login (the session is valid in every process)."""
    node = sender.node
    cookie, csrf = await _login(node)
    bodies = [json.dumps({**payload(size), "to": p.authority_id}).encode() for p in peers]
    heads = [
        post_head(
            f"127.0.0.1:{port}",
            "/api/requests",
            len(bodies[0]),
            {"Cookie": cookie, "X-CSRF-Token": csrf},
        )
        for port in sender.ports
    ]
    left = iter(range(n))
    connections = [
        (await Connection.open("127.0.0.1", sender.ports[i % len(heads)], node.fingerprint),
         heads[i % len(heads)])
        for i in range(concurrency)
    ]  # fmt: skip

    async def worker(conn: Connection, head: bytes) -> None:
        for i in left:
            status, _, answer = await conn.request(head, bodies[i % len(bodies)])
            if status != 201:
                raise RuntimeError(f"create failed: {status} {answer[:200]!r}")

    try:
        await asyncio.gather(*(worker(c, h) for c, h in connections))
    finally:
        for conn, _ in connections:
            await conn.close()


async def _login(node: BenchNode) -> tuple[str, str]:
    from ..workers.peer_client import pinned

    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar) as session:
        login = {"username": "investigator", "password": node.password}
        async with session.post(
            node.url + "/api/login", json=login, ssl=pinned(node.fingerprint.hex())
        ) as r:
            body = await r.json()
            if r.status != 200:
                raise RuntimeError(f"login failed: {r.status} {body}")
        cookies = jar.filter_cookies(URL(node.url))
    return "; ".join(f"{k}={m.value}" for k, m in cookies.items()), str(body["csrf_token"])


def _count(node: BenchNode, sql: str, params: tuple[object, ...] = ()) -> int:
    conn = open_reader(load_config(node.data / "node.toml"))
    try:
        return int(conn.execute(sql, params).fetchone()[0])
    finally:
        conn.close()


async def _delivered(node: BenchNode, want: int, within: float) -> None:
    """Until ``want`` of the sender's requests have their receipt stored."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while (count := await asyncio.to_thread(_count, node, COUNTED)) < want:
        if loop.time() > deadline:
            raise TimeoutError(f"only {count} of {want} delivered")
        await asyncio.sleep(0.05)  # a polling bound: one index count, light on the machine


def _check(sender: BenchNode, peers: list[BenchNode], created: int) -> tuple[int, int]:
    """Requests lost (answered 201, never stored at the recipient) and stored twice."""
    sent = _count(sender, "SELECT COUNT(*) FROM requests WHERE direction = 'out'")
    me = (sender.authority_id,)
    received = sum(
        _count(p, "SELECT COUNT(*) FROM requests WHERE direction = 'in' AND counterpart = ?", me)
        for p in peers
    )
    distinct = sum(
        _count(
            p,
            "SELECT COUNT(DISTINCT msg_id) FROM requests"
            " WHERE direction = 'in' AND counterpart = ?",
            me,
        )
        for p in peers
    )
    return max(created - sent, 0) + max(sent - distinct, 0), received - distinct


def _postgres_pids(node: BenchNode) -> list[int]:
    """The server processes serving the sender's database (one per connection)."""
    url = load_config(node.data / "node.toml").storage_url
    if not url:
        return []
    database = url.rsplit("/", 1)[1]
    conn = open_reader(load_config(node.data / "node.toml"))
    try:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = ? AND pid <> pg_backend_pid()",
            (database,),
        ).fetchall()
    finally:
        conn.close()
    return [int(r[0]) for r in rows]


def _alive(pids: list[int]) -> list[int]:
    return [p for p in pids if Path(f"/proc/{p}").exists()]
