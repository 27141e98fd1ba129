"""A node dies between the commit of a create and its answer; the client retries with
the same Idempotency-Key after the restart: exactly one request reaches the peer, one
is audited, and the retry is told what the first call did (issue 17, item 2).

The node runs as a subprocess; it dies by ``os._exit`` at the one fault-injection point
(``service/idempotency.DIE_AFTER_COMMIT``, honoured only when it names the node's own
database file), right after the call's transaction committed and before its answer was
kept or sent: what a SIGKILL in that window leaves. The restart is an ordinary one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from exchange.service.idempotency import DIE_AFTER_COMMIT

from ..federation import ApiClient, Federation, wait_until
from ..node.test_crash import healthy
from ..storage import rows

pytestmark = pytest.mark.slow
FORM = {
    "to": "MA-CNA",
    "kind": "information_request",
    "urgency": "urgent",
    "subject": "Vessel from Nador",
    "body": "Who owns the vessel?",
    "language": "en",
}


def spawn(data: Path, log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "exchange", "node", "--data", str(data)],
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        env={**os.environ, **env},
    )


async def post(client: ApiClient, key: str) -> tuple[int, object, dict[str, str]]:
    headers = {
        "X-CSRF-Token": client.csrf,
        "Content-Type": "application/json",
        "Idempotency-Key": key,
    }
    async with client.session.post(
        client.member.url + "/api/requests",
        data=json.dumps(FORM).encode(),
        headers=headers,
        ssl=client.ssl,
    ) as response:
        return response.status, json.loads(await response.read()), dict(response.headers)


def created_entries(data: Path) -> int:
    sql = (
        "SELECT COUNT(*) FROM audit_entries WHERE CAST(entry AS TEXT) LIKE "
        '\'%"action":"request_created"%\''
    )
    return int(str(rows(data, sql)[0][0]))


async def test_killed_between_commit_and_answer_a_retry_creates_nothing(
    tmp_path: Path,
) -> None:
    fed = Federation.create(tmp_path, ["ES-CNA", "MA-CNA"])
    await fed.start("MA-CNA")
    es, ma = fed["ES-CNA"], fed["MA-CNA"]
    db = es.data  # its storage, on either engine
    log = tmp_path / "es.log"
    proc = spawn(es.data, log, {DIE_AFTER_COMMIT: str(es.config.database)})
    client: ApiClient | None = None
    try:
        await wait_until(lambda: healthy(es.url, es.fingerprint), timeout=30, what="ES up")
        client = await ApiClient(es).login("investigator")
        with pytest.raises((aiohttp.ClientError, OSError)):
            await post(client, "crash-1")  # the node dies before it answers
        assert proc.wait(timeout=30) == 137
        await client.close()
        # committed: the request, its outbox row and its audit entry, with the key
        (request_id,) = rows(db, "SELECT id FROM requests WHERE direction = 'out'")[0]
        assert rows(db, "SELECT status FROM idempotency_keys") == [(None,)]
        assert created_entries(db) == 1

        proc = spawn(es.data, log, {})
        await wait_until(lambda: healthy(es.url, es.fingerprint), timeout=30, what="ES back")
        client = await ApiClient(es).login("investigator")
        for _ in range(2):
            status, body, headers = await post(client, "crash-1")
            assert status == 200 and headers["Idempotent-Replayed"] == "true"
            assert isinstance(body, dict)
            assert body["idempotency"]["answer"] == "lost"
            assert {e.get("request_id") for e in body["created"]} == {request_id}

        async def delivered() -> bool:
            pending = rows(db, "SELECT COUNT(*) FROM messages WHERE receipt IS NULL")
            return pending[0][0] == 0

        await wait_until(delivered, timeout=60, what="the request receipted")
        received = await ma.node.db.run(
            lambda c: c.execute(
                "SELECT COUNT(*) FROM requests WHERE direction = 'in' AND counterpart = ?",
                ("ES-CNA",),
            ).fetchone()[0]
        )
        assert received == 1
        assert rows(db, "SELECT COUNT(*) FROM requests")[0][0] == 1
        assert created_entries(db) == 1
        # a new key is a new call
        status, body, _ = await post(client, "crash-2")
        assert status == 201
    finally:
        if client is not None:
            await client.close()
        proc.kill()
        proc.wait()
        await fed.stop()
