"""``exchange bench --only ha``: two processes of one authority on one database, a peer,
and the SIGKILL of the process holding the leases under load (issue 18).

ES-CNA runs as two ``exchange node`` processes on one data folder (``[cluster]
active_active``), behind a round-robin TCP balancer at the address the directory
publishes; MA-CNA is its peer. Clients create requests through both ES processes and
through MA (to ES, through the balancer). Midway the process holding the checkpoints
lease is killed with SIGKILL; the run measures how long until the survivor holds every
duty the dead one held (``ha_failover_s``), then lets everything settle and counts the
requests lost (created, answered 201, never stored at the recipient) and duplicated
(stored twice there), and checks receipts and ES's audit log.

The storage engine is a parameter (``storage_url``: a PostgreSQL database for ES's two
processes; the peer stays on SQLite): the SQLite data folder by default. Every check
reads through the engine (``store.engine.open_reader``), so it is the same on both.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import signal
import sqlite3
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from ..config import load_config
from ..core.canonical import JsonObject
from ..core.lease import MEMBER
from ..ops.audit_check import verify_data_dir
from ..runloop import run as run_loop
from ..store.engine import open_reader
from ..workers.peer_client import pinned
from .local_federation import BenchNode, free_ports, provision
from .pg_cluster import Cluster
from .processes import spawn, stop, wait_healthy

ES, MA = "ES-CNA", "MA-CNA"
CLUSTER = "\n[cluster]\nactive_active = true\n"
CONFIG = """
[delivery]
backoff_initial_seconds = 0.05
backoff_max_seconds = 0.5
request_timeout_seconds = 3

[audit]
checkpoint_interval_seconds = 0.5
witness_interval_seconds = 1.0
"""
# the duties every process of the authority runs under a lease (node/app.py)
DUTIES = ("checkpoints", "witness", "witness_submit", "deadlines", "sessions", "directory")


class Balancer:
    """A TCP load balancer: each connection to the next backend that accepts it."""

    def __init__(self, backends: list[int]) -> None:
        self.backends = backends
        self.served = dict.fromkeys(backends, 0)
        self.port = 0
        self._next = itertools.cycle(range(len(backends)))
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[object]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self, port: int) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", port)
        self.port = port

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
            task.add_done_callback(self._handlers.discard)
        for _ in self.backends:
            backend = self.backends[next(self._next)]
            try:
                up_reader, up_writer = await asyncio.open_connection("127.0.0.1", backend)
            except OSError:
                continue  # that process is down: the next one
            self.served[backend] += 1
            self._writers.update((writer, up_writer))
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
            self._writers.difference_update((writer, up_writer))
            return
        writer.close()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.close()  # the handlers end on their own (a cancelled one is reported)
        await asyncio.gather(*self._handlers, return_exceptions=True)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


@dataclass
class HaResult:
    failover_s: float
    lost: int
    duplicated: int
    created: dict[str, int]  # 201s, by the process (url) that answered them
    unreceipted: int
    audit_ok: bool
    served: dict[int, int]  # peer connections the balancer gave each ES process
    overlaps: list[str]  # a duty held by two processes at once (from their logs)
    peer_url: str = ""
    killed_duties: list[str] = field(default_factory=list)

    def to_json(self) -> JsonObject:
        return {
            "ha_failover_s": round(self.failover_s, 3),
            "ha_lost": self.lost,
            "ha_duplicated": self.duplicated,
            "ha_requests": sum(self.created.values()),
            "ha_unreceipted": self.unreceipted,
            "ha_audit_ok": self.audit_ok,
            "ha_exclusive": not self.overlaps,
        }


def run(
    work: Path | None = None, *, load_s: float = 4.0, clients: int = 4, storage: str = "sqlite"
) -> JsonObject:
    """The failover run, in a temporary folder unless ``work`` is given; on
    ``storage="postgresql"`` ES's processes share a database of a throwaway cluster
    started for the run (``pg_cluster``, as the tests')."""
    with contextlib.ExitStack() as stack:
        url = None
        if storage == "postgresql":
            cluster = Cluster().start()
            stack.callback(cluster.stop)
            url = cluster.database()
        tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="exchange-ha-"))
        root = work or Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        result = run_loop(failover(root, load_s=load_s, clients=clients, storage_url=url))
    return {**result.to_json(), "ha_storage": storage}


async def failover(
    root: Path, *, load_s: float = 4.0, clients: int = 4, storage_url: str | None = None
) -> HaResult:
    es_port2, lb_port = free_ports(2)
    es, ma = provision(
        root,
        [ES, MA],
        extra_config=CONFIG,
        urls={ES: f"https://127.0.0.1:{lb_port}"},
        storage_urls={ES: storage_url} if storage_url else None,
    )
    with (es.data / "node.toml").open("a") as handle:
        handle.write(CLUSTER)
    balancer = Balancer([es.port, es_port2])
    await balancer.start(lb_port)
    urls = {1: es.url, 2: f"https://127.0.0.1:{es_port2}"}
    procs = {
        1: spawn(["-m", "exchange", "node", "--data", str(es.data)], root / "es1.log"),
        2: spawn(
            ["-m", "exchange", "node", "--data", str(es.data), "--port", str(es_port2)],
            root / "es2.log",
        ),
        3: spawn(["-m", "exchange", "node", "--data", str(ma.data)], root / "ma.log"),
    }
    created: dict[str, list[str]] = {u: [] for u in [*urls.values(), ma.url]}
    try:
        await asyncio.gather(
            *(wait_healthy(u, es.fingerprint) for u in urls.values()),
            wait_healthy(ma.url, ma.fingerprint),
        )
        stop_load = asyncio.Event()
        alive = dict(urls)
        streams = [
            asyncio.create_task(_stream(es, list(alive.values()), i, created, stop_load, MA))
            for i in range(clients)
        ] + [asyncio.create_task(_stream(ma, [ma.url], 0, created, stop_load, ES))]
        holders = await _wait(lambda: _held(es.data, "checkpoints"), 30, "no checkpoints lease")
        await asyncio.sleep(load_s / 2)  # load before the kill
        victim = 1 if f":{procs[1].pid}:" in holders else 2
        survivor = 3 - victim
        duties = [  # a member row is the victim's own (its presence), never taken over
            d
            for d, h in _rows(es.data).items()
            if f":{procs[victim].pid}:" in h[0] and not d.startswith(MEMBER)
        ]
        procs[victim].send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        procs[victim].wait()
        alive.pop(victim)
        pid = f":{procs[survivor].pid}:"
        await _wait(
            lambda: all(pid in _rows(es.data).get(d, ("", 0))[0] for d in duties),
            30,
            "the survivor did not take the duties over",
        )
        failover_s = time.monotonic() - killed_at
        await asyncio.sleep(load_s / 2)  # load after the takeover
        stop_load.set()
        await asyncio.gather(*streams)
        await _wait(
            lambda: _pending(es.data) + _pending(ma.data) == 0 or None,
            90,
            "deliveries did not settle",
        )
    finally:
        for p in procs.values():
            with contextlib.suppress(Exception):
                stop(p)
        await balancer.close()
    lost, duplicated = 0, 0
    for sender, recipient, ids in (
        (es, ma, [i for u, got in created.items() if u != ma.url for i in got]),
        (ma, es, created[ma.url]),
    ):
        sent = _msg_ids(sender.data, ids)  # a 201 whose request the sender lacks is lost
        received = _received(recipient.data, sender.authority_id)
        lost += len(ids) - len(sent) + len(set(sent) - set(received))
        duplicated += len(received) - len(set(received))
    return HaResult(
        failover_s=failover_s,
        lost=lost,
        duplicated=duplicated,
        created={u: len(ids) for u, ids in created.items()},
        unreceipted=_unreceipted(es.data) + _unreceipted(ma.data),
        audit_ok=verify_data_dir(es.data).ok and verify_data_dir(ma.data).ok,
        served=dict(balancer.served),
        overlaps=lease_overlaps([root / "es1.log", root / "es2.log"]),
        peer_url=ma.url,
        killed_duties=duties,
    )


async def _stream(
    node: BenchNode,
    urls: list[str],
    index: int,
    created: dict[str, list[str]],
    stop_load: asyncio.Event,
    to: str,
) -> None:
    """One client creating requests through ``urls`` in turn; on an error (the process
    was killed) it logs in through the next one."""
    turn = itertools.cycle(urls[index % len(urls) :] + urls[: index % len(urls)])
    url = next(turn)
    ssl = pinned(node.fingerprint.hex())
    csrf = ""
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar) as session:
        while not stop_load.is_set():
            try:
                if not csrf:
                    login = {"username": "investigator", "password": node.password}
                    async with session.post(url + "/api/login", ssl=ssl, json=login) as r:
                        csrf = (await r.json())["csrf_token"] if r.status == 200 else ""
                    continue
                body = {
                    "to": to,
                    "kind": "information_request",
                    "urgency": "urgent",
                    "subject": "failover",
                    "body": "Which vessel?",
                    "language": "en",
                }
                headers = {"X-CSRF-Token": csrf}
                async with session.post(
                    url + "/api/requests", ssl=ssl, json=body, headers=headers
                ) as r:
                    if r.status == 201:
                        created[url].append(str((await r.json())["id"]))
                    elif r.status == 401:
                        csrf = ""
            except (aiohttp.ClientError, OSError, TimeoutError, KeyError, ValueError):
                csrf, url = "", next(turn)
                jar.clear()
                await asyncio.sleep(0.05)  # this client's retry pace


async def _wait(probe, within: float, what: str):  # type: ignore[no-untyped-def]
    """Poll ``probe`` (in a thread: it reads the database) until it returns a truthy
    value, at most ``within`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        value = await asyncio.to_thread(probe)
        if value:
            return value
        if loop.time() > deadline:
            raise TimeoutError(what)
        await asyncio.sleep(0.05)


def _read(data: Path, sql: str, params: tuple[object, ...] = ()) -> list[tuple[Any, ...]]:
    """One query, on the storage the data folder's node.toml names (SQLite or PostgreSQL)."""
    conn = open_reader(load_config(data / "node.toml"))
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def _rows(data: Path) -> dict[str, tuple[str, int]]:
    """Each unexpired lease: its holder and fence."""
    now_ms = int(time.time() * 1000)
    rows = _read(data, "SELECT duty, holder, fence FROM leases WHERE expires_at > ?", (now_ms,))
    return {str(d): (str(h), int(f)) for d, h, f in rows}


def _held(data: Path, duty: str) -> str | None:
    with contextlib.suppress(sqlite3.OperationalError):  # no leases table yet
        found = _rows(data).get(duty)
        return found[0] if found else None
    return None


def _pending(data: Path) -> int:
    return int(_read(data, "SELECT COUNT(*) FROM outbox WHERE state = 'pending'")[0][0])


def _msg_ids(data: Path, request_ids: list[str]) -> list[str]:
    """The message ids of these requests of ours (the recipient stores its own ids)."""
    found: list[str] = []
    for start in range(0, len(request_ids), 500):
        part = request_ids[start : start + 500]
        marks = ",".join("?" * len(part))
        sql = f"SELECT msg_id FROM requests WHERE direction = 'out' AND id IN ({marks})"  # noqa: S608
        found += [str(r[0]) for r in _read(data, sql, tuple(part))]
    return found


def _received(data: Path, sender: str) -> list[str]:
    rows = _read(
        data, "SELECT msg_id FROM requests WHERE direction = 'in' AND counterpart = ?", (sender,)
    )
    return [str(r[0]) for r in rows]


def _unreceipted(data: Path) -> int:
    """Our messages to a peer with no receipt (the data folder is named after us)."""
    sql = (
        "SELECT COUNT(*) FROM messages m JOIN requests r ON r.id = m.request_id"
        " WHERE r.direction = 'out' AND m.sender = ? AND m.receipt IS NULL"
    )
    return int(_read(data, sql, (data.name,))[0][0])


def lease_overlaps(logs: list[Path]) -> list[str]:
    """Duties two processes held at once, from their log events: each process's
    ``lease_acquired`` starts a holding, its ``lease_released``/``lease_lost`` (or the
    end of its log: it was killed, and held nothing after its last event) ends it."""
    spans: dict[str, list[tuple[str, str, str]]] = {}
    for path in logs:
        if not path.exists():
            continue
        open_at: dict[str, str] = {}
        last = ""
        for line in path.read_text(errors="replace").splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if not isinstance(event, dict) or "timestamp" not in event:
                continue
            last = str(event["timestamp"])
            duty, name = event.get("duty"), event.get("event")
            if not isinstance(duty, str):
                continue
            if name == "lease_acquired":
                open_at[duty] = last
            elif name in ("lease_released", "lease_lost") and duty in open_at:
                spans.setdefault(duty, []).append((open_at.pop(duty), last, path.name))
        for duty, start in open_at.items():
            spans.setdefault(duty, []).append((start, last, path.name))
    overlaps = []
    for duty, held in spans.items():
        held.sort()
        for (_, end, who), (start, _, other) in itertools.pairwise(held):
            if who != other and start < end:
                overlaps.append(f"{duty}: {who} until {end}, {other} from {start}")
    return overlaps
