"""A federation of N nodes (193 by default: one per UN member state) in a few worker
processes, each node sending requests to 10 random peers: time until every one is
receipted.

The parent chooses the ports and the operator key and writes a plan; each worker
provisions its own nodes (in parallel: most of it is key generation and durable
SQLite commits), the parent signs the directory of all of them, the workers start
their nodes, and on "go" every node creates its requests at once. Timed per phase:
set-up (provisioning and signing), start (N HTTPS servers, each verifying the
directory), and the run itself (``federation_s``).
"""

from __future__ import annotations

import asyncio
import cProfile
import json
import logging
import math
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ..config import load_config
from ..core.canonical import JsonObject
from ..core.directory import format_operator_key
from ..logs import configure_logging
from ..node.runner import RunningNode, start_node
from ..runloop import run as run_loop
from ..service import requests
from ..service.forms import RequestForm
from ..service.node import Node
from .local_federation import listening_ports, operator_key, provision_node, sign_federation
from .processes import cpu_seconds, peak_rss_mb, rss_mb
from .un_members import authority_ids

CONFIG = """
[delivery]
backoff_initial_seconds = 0.1
backoff_max_seconds = 1.0
request_timeout_seconds = 20

[audit]
checkpoint_interval_seconds = 5
witness_interval_seconds = 3600
"""
FANOUT = 10
NODES_PER_PROCESS = 125  # one event loop serves this many nodes at most
# glibc gives each thread that allocates an arena of its own, up to 8 a core: with
# 125 database threads in a worker, ~0.4 MB a node of half-empty arenas (measured at
# 40 nodes in one process: 3.90 -> 3.51 MB a node). A node alone in its process has a
# handful of threads; the setting is the benchmark's packing. An operator's own
# MALLOC_ARENA_MAX wins.
WORKER_ENV = {"MALLOC_ARENA_MAX": "2"}


def processes_for(nodes: int, cpus: int) -> int:
    """Two processes a core at least (one per core would leave a core idle while the
    other process's loop waits on its database threads), and no more than
    ``NODES_PER_PROCESS`` nodes in one event loop."""
    return max(2 * cpus, math.ceil(nodes / NODES_PER_PROCESS))


def raise_open_files() -> int:
    """Soft RLIMIT_NOFILE up to the hard limit: each node holds a listening socket,
    three files per database and its connections to peers. Returns the limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


async def _send(node: Node, peers: list[str]) -> None:
    for peer in peers:
        form = RequestForm(
            to=peer,
            kind="information_request",
            urgency="urgent",
            subject="Scale test",
            body="Who operates the boat?",
            language="en",
        )
        await requests.create(node, actor="bench", form=form)


async def _worker(root: Path, number: int) -> None:
    raise_open_files()
    plan = json.loads((root / "plan.json").read_text())
    mine: list[list[object]] = plan["groups"][number]
    for authority_id, port in mine:
        provision_node(
            root, str(authority_id), int(str(port)), plan["operator"],
            extra_config=CONFIG, users=False,
        )  # fmt: skip
    _say("provisioned")
    if _hear() != "start":
        return  # the parent is gone (end of input): so are we
    running: list[RunningNode] = []
    try:
        with _Profiled(number, "start"):
            for authority_id, _ in mine:
                config = load_config(root / str(authority_id) / "node.toml")
                running.append(await start_node(config))
        _say("ready")
        if await asyncio.to_thread(_hear) != "go":
            return
        with _Profiled(number, "run"):
            everyone = sorted(plan["ids"])
            # one node after the other, as before: all at once, 10,000 calls were in
            # flight at 1,000 nodes, each waited longer than its timeout and was sent
            # again (measured: 8,861 of 10,000 still undelivered after 5 minutes)
            for node in (r.node for r in running):
                peers = random.Random(node.me).sample([a for a in everyone if a != node.me], FANOUT)
                await _send(node, peers)
            pending = await _wait_delivered([r.node for r in running], plan["timeout"])
        _say("done" if pending == 0 else f"timeout {pending}")
        await asyncio.to_thread(_hear)
    finally:
        for r in running:
            await r.stop()


async def _wait_delivered(nodes: list[Node], within: float) -> int:
    """Requests not yet receipted, once all are or ``within`` seconds have passed
    (a node is asked again only while it still has some)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    waiting = list(nodes)
    pending = 0
    while waiting and loop.time() < deadline:
        counts = await asyncio.gather(*(_undelivered(n) for n in waiting))
        waiting = [n for n, c in zip(waiting, counts, strict=True) if c]
        pending = sum(counts)
        if waiting:
            await asyncio.sleep(0.2)
    return pending


async def _undelivered(node: Node) -> int:
    count: int = await node.db.run(
        lambda c: c.execute(
            "SELECT COUNT(*) FROM requests WHERE direction = 'out' AND delivered_at IS NULL"
        ).fetchone()[0]
    )
    return count


def _say(line: str) -> None:
    print(line, flush=True)


def _hear() -> str:
    return sys.stdin.readline().strip()


class _Workers:
    def __init__(self, root: Path, count: int) -> None:
        self.root = root
        self.procs = [
            subprocess.Popen(  # noqa: S603 -- our own interpreter and arguments
                [sys.executable, "-m", "exchange.bench.scale", str(root), str(n)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=(root / f"worker{n}.log").open("w"),
                text=True,
                env=WORKER_ENV | dict(os.environ),
            )
            for n in range(count)
        ]

    def tell(self, line: str) -> None:
        for p in self.procs:
            assert p.stdin is not None
            p.stdin.write(line + "\n")
            p.stdin.flush()

    def answers(self) -> list[str]:
        return [p.stdout.readline().strip() for p in self.procs if p.stdout is not None]

    def expect(self, word: str) -> None:
        answers = self.answers()
        failed = [n for n, a in enumerate(answers) if a != word]
        if failed:
            log = (self.root / f"worker{failed[0]}.log").read_text()[-2000:]
            raise RuntimeError(f"scale workers {failed} did not answer {word!r}; {log}")

    def cpu(self) -> float:
        return sum(cpu_seconds(p.pid) for p in self.procs)

    def close(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            p.wait()


def run(nodes: int = 193, workers: int | None = None) -> JsonObject:
    raise_open_files()
    count = workers or processes_for(nodes, os.cpu_count() or 1)
    ids = authority_ids(nodes)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        started = time.perf_counter()
        operator = operator_key()
        pairs = list(zip(ids, listening_ports(nodes), strict=True))
        plan = {
            "ids": ids,
            "operator": format_operator_key(operator.public.public),
            "groups": [pairs[n::count] for n in range(count)],
            "timeout": max(300.0, nodes * 0.3),
        }
        (root / "plan.json").write_text(json.dumps(plan))
        workers_ = _Workers(root, count)
        try:
            workers_.expect("provisioned")
            sign_federation(root, [root / a for a in ids], operator)
            setup = time.perf_counter() - started
            started, cpu = time.perf_counter(), workers_.cpu()
            workers_.tell("start")
            workers_.expect("ready")
            start = time.perf_counter() - started
            start_cpu = workers_.cpu() - cpu
            idle_rss = sum(rss_mb(p.pid) for p in workers_.procs)
            started, cpu = time.perf_counter(), workers_.cpu()
            workers_.tell("go")
            results = workers_.answers()
            elapsed = time.perf_counter() - started
            run_cpu = workers_.cpu() - cpu
            peak = sum(peak_rss_mb(p.pid) for p in workers_.procs)
            workers_.tell("stop")
            for p in workers_.procs:
                p.wait(timeout=120)
        finally:
            workers_.close()
    if any(r != "done" for r in results):
        raise RuntimeError(f"scale run incomplete: {results}")
    result: JsonObject = {
        "federation_nodes": nodes,
        "federation_requests": nodes * FANOUT,
        "federation_processes": count,
        "federation_setup_s": setup,
        "federation_start_s": start,
        "federation_start_cpu_s": start_cpu,
        "federation_s": elapsed,
        "federation_cpu_s": run_cpu,
        "federation_idle_rss_mb_per_node": idle_rss / nodes,
        "federation_peak_rss_mb": peak,
    }
    if nodes == 193:
        result["federation_193_s"] = elapsed  # the name of earlier reports
    return result


class _Profiled:
    """With ``EXCHANGE_BENCH_PROFILE=<folder>``, a phase of a worker's event-loop thread
    profiled (cProfile, CPU time) into ``<folder>/worker<number>-<phase>.prof``."""

    def __init__(self, number: int, phase: str) -> None:
        folder = os.environ.get("EXCHANGE_BENCH_PROFILE")
        self.path = Path(folder) / f"worker{number}-{phase}.prof" if folder else None
        # CPU time of this thread, not wall time: a call that releases the GIL (a
        # signature, a TLS handshake) would otherwise count the wait to get it back
        self.profile = cProfile.Profile(time.thread_time) if folder else None

    def __enter__(self) -> None:
        if self.profile is not None:
            self.profile.enable()

    def __exit__(self, *exc: object) -> None:
        if self.profile is not None and self.path is not None:
            self.profile.disable()
            self.profile.dump_stats(self.path)


if __name__ == "__main__":
    configure_logging("json", level=logging.WARNING)
    run_loop(_worker(Path(sys.argv[1]), int(sys.argv[2])))
