"""The sender is killed with SIGKILL mid-burst and restarted: every request it
committed is delivered exactly once."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from ..federation import ApiClient, Federation, wait_until
from ..storage import rows

pytestmark = pytest.mark.slow


def spawn(member_data: Path, log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "exchange", "node", "--data", str(member_data)],
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


async def healthy(url: str, fingerprint: str) -> bool:
    try:
        async with (
            aiohttp.ClientSession() as session,
            session.get(
                url + "/v1/health",
                ssl=aiohttp.Fingerprint(bytes.fromhex(fingerprint)),
                timeout=aiohttp.ClientTimeout(total=2),
            ) as response,
        ):
            return response.status == 200
    except (aiohttp.ClientError, OSError, TimeoutError):
        return False


async def test_sender_killed_mid_burst_delivers_exactly_once(tmp_path: Path) -> None:
    fed = Federation.create(tmp_path, ["ES-CNA", "MA-CNA"])
    await fed.start("MA-CNA")
    es = fed["ES-CNA"]
    log = tmp_path / "es.log"
    proc = spawn(es.data, log)
    acknowledged: set[str] = set()
    try:
        await wait_until(lambda: healthy(es.url, es.fingerprint), timeout=30, what="ES up")
        client = await ApiClient(es).login("investigator")

        async def create(n: int) -> None:
            try:
                status, body = await client.call(
                    "POST",
                    "/api/requests",
                    {
                        "to": "MA-CNA",
                        "kind": "information_request",
                        "urgency": "urgent",
                        "subject": f"burst {n}",
                        "body": f"request number {n}",
                        "language": "en",
                    },
                )
                if status == 201:
                    acknowledged.add(body["msg_id"])
            except (aiohttp.ClientError, OSError):
                pass  # the node died under us: this request may or may not be committed

        tasks = [asyncio.create_task(create(n)) for n in range(60)]
        await wait_until(lambda: len(acknowledged) >= 20, what="20 requests accepted")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        await asyncio.gather(*tasks)
        await client.close()

        proc = spawn(es.data, log)
        await wait_until(lambda: healthy(es.url, es.fingerprint), timeout=30, what="ES back")
        committed = {
            r[0] for r in rows(es.data, "SELECT msg_id FROM requests WHERE direction='out'")
        }
        assert acknowledged <= committed  # every 201 was durable

        async def all_receipted() -> bool:
            pending = rows(es.data, "SELECT COUNT(*) FROM messages WHERE receipt IS NULL")
            return pending[0][0] == 0

        await wait_until(all_receipted, timeout=60, what="all receipts back at ES")
        received = await fed["MA-CNA"].node.db.run(
            lambda c: c.execute("SELECT msg_id FROM requests WHERE direction='in'").fetchall()
        )
        received_ids = [r[0] for r in received]
        assert sorted(received_ids) == sorted(committed)  # exactly once: none lost, none twice
        audit_received = await fed["MA-CNA"].node.db.run(
            lambda c: c.execute(
                "SELECT COUNT(*) FROM audit_entries WHERE CAST(entry AS TEXT) LIKE "
                '\'%"action":"request_received"%\''
            ).fetchone()[0]
        )
        assert audit_received == len(committed)
    finally:
        proc.kill()
        proc.wait()
        await fed.stop()
