"""A federation of 193 nodes (one per UN member state) in a few worker processes,
each node sending requests to 10 random peers: time until every one is receipted."""

from __future__ import annotations

import asyncio
import logging
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ..config import load_config
from ..core.canonical import JsonObject
from ..logs import configure_logging
from ..runloop import run as run_loop
from .local_federation import provision
from .processes import peak_rss_mb
from .un_members import UN_MEMBERS

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


async def _worker(root: Path, ids: list[str]) -> None:
    from ..node.runner import start_node
    from ..service import requests
    from ..service.forms import RequestForm

    running = [await start_node(load_config(root / a / "node.toml")) for a in ids]
    print("ready", flush=True)
    await asyncio.to_thread(sys.stdin.readline)
    everyone = sorted(UN_MEMBERS)
    for node in (r.node for r in running):
        rng = random.Random(node.me)
        for peer in rng.sample([f"{c}-CNA" for c in everyone if f"{c}-CNA" != node.me], FANOUT):
            form = RequestForm(
                to=peer,
                kind="information_request",
                urgency="urgent",
                subject="Scale test",
                body="Who operates the boat?",
                language="en",
            )
            await requests.create(node, actor="bench", form=form)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 300
    while loop.time() < deadline:
        pending = 0
        for r in running:
            pending += await r.node.db.run(
                lambda c: c.execute(
                    "SELECT COUNT(*) FROM requests WHERE direction = 'out' AND delivered_at IS NULL"
                ).fetchone()[0]
            )
        if pending == 0:
            break
        await asyncio.sleep(0.1)
    print("done" if pending == 0 else f"timeout {pending}", flush=True)
    await asyncio.to_thread(sys.stdin.readline)
    for r in running:
        await r.stop()


def run(workers: int = 4) -> JsonObject:
    ids = [f"{c}-CNA" for c in UN_MEMBERS]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        started = time.perf_counter()
        provision(root, ids, extra_config=CONFIG, users=False)
        setup = time.perf_counter() - started
        groups = [ids[i::workers] for i in range(workers)]
        procs = [
            subprocess.Popen(  # noqa: S603 -- our own interpreter and arguments
                [sys.executable, "-m", "exchange.bench.scale", str(root), ",".join(g)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=(root / f"worker{n}.log").open("w"),
                text=True,
            )
            for n, g in enumerate(groups)
        ]
        try:
            for p in procs:
                assert p.stdout is not None and p.stdout.readline().strip() == "ready"
            started = time.perf_counter()
            for p in procs:
                assert p.stdin is not None
                p.stdin.write("go\n")
                p.stdin.flush()
            results = [p.stdout.readline().strip() for p in procs if p.stdout is not None]
            elapsed = time.perf_counter() - started
            rss = sum(peak_rss_mb(p.pid) for p in procs)
            for p in procs:
                assert p.stdin is not None
                p.stdin.write("stop\n")
                p.stdin.flush()
            for p in procs:
                p.wait(timeout=60)
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
    if any(r != "done" for r in results):
        raise RuntimeError(f"scale run incomplete: {results}")
    return {
        "federation_nodes": len(ids),
        "federation_requests": len(ids) * FANOUT,
        "federation_processes": workers,
        "federation_setup_s": setup,
        "federation_193_s": elapsed,
        "federation_peak_rss_mb": rss,
    }


if __name__ == "__main__":
    configure_logging("json", level=logging.WARNING)
    run_loop(_worker(Path(sys.argv[1]), sys.argv[2].split(",")))
