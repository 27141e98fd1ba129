"""Chaos: three nodes as separate OS processes exchange a stream of requests while
nodes are killed with SIGKILL and restarted, and peers are cut off and slowed down by
TCP proxies the test controls. At the end every request is delivered exactly once,
every receipt is stored, every audit log verifies and no witness saw a fork."""

from __future__ import annotations

import asyncio
import contextlib
import random
from pathlib import Path

import aiohttp
import pytest

from exchange.bench.local_federation import BenchNode, provision
from exchange.bench.processes import spawn, stop, wait_healthy
from exchange.ops.audit_check import verify_data_dir
from exchange.workers.peer_client import pinned

from ..storage import rows

pytestmark = pytest.mark.slow
IDS = ["ES-CNA", "MA-CNA", "SN-CNA"]
CONFIG = """
[delivery]
backoff_initial_seconds = 0.05
backoff_max_seconds = 0.4
request_timeout_seconds = 3

[audit]
checkpoint_interval_seconds = 0.3
witness_interval_seconds = 0.5
"""


class Proxy:
    """A TCP proxy in front of a node: passes, drops (cut) or delays (slow) traffic."""

    def __init__(self) -> None:
        self.target = 0
        self.cut = False
        self.delay = 0.0
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    def cut_off(self) -> None:
        self.cut = True
        for writer in list(self._writers):
            writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.cut:
            writer.close()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target)
        except OSError:
            writer.close()
            return
        self._writers.update((writer, up_writer))
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        self._writers.difference_update((writer, up_writer))

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                if self.delay:
                    await asyncio.sleep(self.delay)  # the injected slowness itself
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    async def close(self) -> None:
        self.cut_off()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


def _count(node: BenchNode, sql: str) -> int:
    return int(rows(node.data, sql)[0][0])


async def test_chaos(tmp_path: Path) -> None:
    rng = random.Random(20261123)  # noqa: S311 (a reproducible fault schedule)
    proxies = {a: Proxy() for a in IDS}
    for proxy in proxies.values():
        await proxy.start()
    nodes = {
        n.authority_id: n
        for n in provision(
            tmp_path,
            IDS,
            extra_config=CONFIG,
            urls={a: f"https://127.0.0.1:{p.port}" for a, p in proxies.items()},
        )
    }
    for a, proxy in proxies.items():
        proxy.target = nodes[a].port
    procs = {
        a: spawn(["-m", "exchange", "node", "--data", str(n.data)], tmp_path / f"{a}.log")
        for a, n in nodes.items()
    }
    faults = {"kill": 0, "cut": 0, "slow": 0}
    created: dict[str, int] = dict.fromkeys(IDS, 0)
    try:
        await asyncio.gather(*(wait_healthy(n.url, n.fingerprint) for n in nodes.values()))
        stop_stream = asyncio.Event()

        async def stream(sender: str) -> None:
            node = nodes[sender]
            jar = aiohttp.CookieJar(unsafe=True)
            async with aiohttp.ClientSession(cookie_jar=jar) as session:
                csrf = ""
                while not stop_stream.is_set():
                    to = rng.choice([a for a in IDS if a != sender])
                    try:
                        if not csrf:
                            async with session.post(
                                node.url + "/api/login",
                                ssl=pinned(node.fingerprint.hex()),
                                json={"username": "investigator", "password": node.password},
                            ) as r:
                                csrf = (await r.json())["csrf_token"] if r.status == 200 else ""
                            continue
                        async with session.post(
                            node.url + "/api/requests",
                            headers={"X-CSRF-Token": csrf},
                            ssl=pinned(node.fingerprint.hex()),
                            json={
                                "to": to,
                                "kind": "information_request",
                                "urgency": "urgent",
                                "subject": "chaos",
                                "body": "Which vessel?",
                                "language": "en",
                            },
                        ) as r:
                            if r.status == 201:
                                created[sender] += 1
                            elif r.status == 401:
                                csrf = ""
                    except (aiohttp.ClientError, OSError, TimeoutError, KeyError, ValueError):
                        csrf = ""  # the node was killed: log in again once it is back
                        await asyncio.sleep(0.05)  # the retry pace of this client

        streams = [asyncio.create_task(stream(a)) for a in IDS]
        schedule = ["kill", "cut", "slow"] * 3  # every kind of fault, in a random order
        rng.shuffle(schedule)
        for fault in schedule:
            victim = rng.choice(IDS)
            faults[fault] += 1
            if fault == "kill":
                procs[victim].kill()
                procs[victim].wait()
                await asyncio.sleep(rng.uniform(0.2, 0.8))  # time spent down
                procs[victim] = spawn(
                    ["-m", "exchange", "node", "--data", str(nodes[victim].data)],
                    tmp_path / f"{victim}.log",
                )
                await wait_healthy(nodes[victim].url, nodes[victim].fingerprint)
            elif fault == "cut":
                proxies[victim].cut_off()
                await asyncio.sleep(rng.uniform(0.5, 1.5))  # time unreachable
                proxies[victim].cut = False
            else:
                proxies[victim].delay = 0.2
                await asyncio.sleep(rng.uniform(0.5, 1.5))  # time slowed down
                proxies[victim].delay = 0.0
        stop_stream.set()
        await asyncio.gather(*streams)

        def settled() -> bool:
            return all(
                _count(n, "SELECT COUNT(*) FROM outbox WHERE state = 'pending'") == 0
                for n in nodes.values()
            )

        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        while not await asyncio.to_thread(settled):
            assert loop.time() < deadline, "deliveries did not settle"
            await asyncio.sleep(0.2)

        # the witnesses kept working through the faults: every node's log was cosigned
        def cosigned() -> bool:
            return all(
                _count(n, "SELECT COUNT(*) FROM audit_cosignatures") > 0 for n in nodes.values()
            )

        while not await asyncio.to_thread(cosigned):
            assert loop.time() < deadline, "no cosignatures collected"
            await asyncio.sleep(0.2)
    finally:
        for p in procs.values():
            with contextlib.suppress(Exception):
                stop(p)
        for proxy in proxies.values():
            await proxy.close()

    total = 0
    for sender, node in nodes.items():
        sent = _count(node, "SELECT COUNT(*) FROM requests WHERE direction = 'out'")
        assert sent >= created[sender]  # a 201 lost when a node died may add a few
        receipts = _count(
            node,
            "SELECT COUNT(*) FROM messages m JOIN requests r ON r.id = "
            "m.request_id WHERE r.direction = 'out' AND m.receipt IS NOT NULL",
        )
        assert receipts == sent, f"{sender}: {sent} sent, {receipts} receipts"
        received = sum(
            _count(
                other,
                f"SELECT COUNT(*) FROM requests WHERE direction = 'in' "  # noqa: S608
                f"AND counterpart = '{sender}'",
            )
            for other in nodes.values()
            if other is not node
        )
        assert received == sent, f"{sender}: {sent} sent, {received} received (exactly once)"
        total += sent
    for node in nodes.values():
        report = verify_data_dir(node.data)
        assert report.ok, report.problems[:3]
        assert _count(node, "SELECT COUNT(*) FROM witness_alerts") == 0
    assert total > 30 and faults == {"kill": 3, "cut": 3, "slow": 3}
    print(f"chaos: {total} requests, faults injected: {faults}")
