"""Delivery leases spread over the live processes of one authority (issue 18): with
two processes and four peers each process delivers to at most two peers at a time
(``core.lease.delivery_share``), so both deliver; when one dies (SIGKILL, a real
process) the other takes every peer over within the failover bound.

ES-CNA runs here as this test process's node and as a second ``exchange node``
process on the same data folder (SQLite, ``[cluster] active_active``)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from exchange.bench.processes import wait_healthy
from exchange.core.clock import SystemClock
from exchange.ops.keyfiles import tls_fingerprint
from exchange.service import leases
from exchange.service.forms import RequestForm
from exchange.service.requests import create

from ..federation import Federation, Member, free_port, wait_until

PEERS = ["DE-CNA", "FR-CNA", "IT-CNA", "MA-CNA"]
TTL, RENEW = 2.0, 0.5
CONFIG = f"""
[delivery]
backoff_initial_seconds = 0.05
backoff_max_seconds = 0.5
batch_size = 5
pipeline = 1

[audit]
checkpoint_interval_seconds = 0.2
witness_interval_seconds = 3600

[cluster]
active_active = true
lease_ttl_seconds = {TTL}
lease_renew_seconds = {RENEW}
lease_margin_seconds = 0.25
poll_seconds = 0.1
"""
CONTENT = {"kind": "information_request", "urgency": "urgent", "subject": "Vessel",
           "body": "Which vessel?", "language": "en"}  # fmt: skip


def _spawn(es: Member, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}  # this tree's exchange
    args = [sys.executable, "-m", "exchange", "node", "--data", str(es.data)]
    with log.open("wb") as out:
        return subprocess.Popen(
            [*args, "--port", str(port)], stdout=out, stderr=subprocess.STDOUT, env=env
        )


async def _delivery_holders(es: Member) -> dict[str, str]:
    """Each unexpired ``delivery:<peer>`` lease: its holder."""
    rows = await leases.rows(es.node)
    now = SystemClock().now()  # after the read: a lease let go meanwhile is not counted
    return {r.duty: r.holder for r in rows if r.duty.startswith("delivery:") and r.expires_at > now}


async def _delivery_holders_ever(es: Member) -> dict[str, str]:
    """Each ``delivery:<peer>`` row's last holder (a row stays when let go)."""
    return {r.duty: r.holder for r in await leases.rows(es.node) if r.duty.startswith("delivery:")}


async def _send(es: Member, per_peer: int) -> None:
    for _ in range(per_peer):
        for peer in PEERS:
            form = RequestForm.of({"to": peer, **CONTENT})
            await create(es.node, actor="investigator", form=form)


async def _receipted(es: Member, want: int) -> bool:
    sql = "SELECT COUNT(*) FROM messages WHERE sender = 'ES-CNA' AND receipt IS NOT NULL"
    return int(await es.node.db.run(lambda c: c.execute(sql).fetchone()[0])) == want


async def test_two_processes_split_the_peers_and_one_takes_all_when_the_other_dies(
    tmp_path: Path,
) -> None:
    fed = Federation.create(tmp_path, ["ES-CNA", *PEERS], extra_config=CONFIG)
    await fed.start()
    es = fed["ES-CNA"]
    keeper: Any = es.running.app[_leases_key()] if es.running else None
    port = free_port()
    other = _spawn(es, port, tmp_path / "es2.log")
    try:
        fingerprint = bytes.fromhex(tls_fingerprint(es.data / "keys" / "tls.crt"))
        await wait_healthy(f"https://127.0.0.1:{port}", fingerprint)
        await wait_until(lambda: len(keeper.members()) == 2, what="both processes live")
        seen: dict[str, set[str]] = {}  # holder -> the peers it held
        most = 0  # the most delivery leases one process held at once

        async def watch() -> None:
            nonlocal most
            while True:
                held = await _delivery_holders(es)
                for duty, holder in held.items():
                    seen.setdefault(holder, set()).add(duty)
                counts = [list(held.values()).count(h) for h in set(held.values())]
                most = max([most, *counts])
                await asyncio.sleep(0.02)  # a sampling pace, not a synchronisation

        watcher = asyncio.create_task(watch())
        await _send(es, 30)
        await wait_until(lambda: _receipted(es, 30 * len(PEERS)), timeout=60, what="receipted")
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
        assert len(seen) == 2, seen  # before: the first process took every peer
        assert most <= 2  # ceil(4 peers / 2 processes)

        other.send_signal(signal.SIGKILL)
        other.wait()
        loop = asyncio.get_running_loop()
        killed_at = loop.time()
        await _send(es, 2)  # every peer has work again: the survivor takes them all
        # the dead process's member row expired: this one's share is every peer, within
        # the takeover bound (its row's TTL and one renewal; slack for a loaded machine)
        await wait_until(lambda: keeper.members() == [keeper.holder], what="alone")
        assert loop.time() - killed_at <= TTL + RENEW + 3.0
        await wait_until(lambda: _receipted(es, 32 * len(PEERS)), timeout=30, what="taken over")
        assert set((await _delivery_holders_ever(es)).values()) == {keeper.holder}
    finally:
        if other.poll() is None:
            other.kill()
            other.wait()
        await fed.stop()


def _leases_key() -> Any:
    from exchange.web.appkeys import LEASES_KEY

    return LEASES_KEY
