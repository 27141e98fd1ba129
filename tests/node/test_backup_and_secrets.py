"""Online backup and checked restore; and no plaintext, password or private key in
the database files or the logs after a full exchange."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

import pytest

from exchange.cli import main
from exchange.core.canonical import b64d
from exchange.core.errors import ExchangeError
from exchange.ops.backup import backup, restore

from ..federation import PASSWORD, ApiClient, Federation, wait_until
from ..storage import sqlite_backup, stored_bytes

SUBJECT = "Operation Kestrel 55120"
BODY = "Passenger list of the vessel Amina-7734, names and phone numbers"
ANSWER = "Owner is Karim Z., passport X93321077"


async def _exchange(fed: Federation) -> str:
    es = await ApiClient(fed["ES-CNA"]).login("investigator")
    ma = await ApiClient(fed["MA-CNA"]).login("liaison")
    try:
        status, created = await es.call("POST", "/api/requests", {
            "to": "MA-CNA", "kind": "information_request", "urgency": "urgent",
            "subject": SUBJECT, "body": BODY, "language": "fr"})  # fmt: skip
        assert status == 201, created

        async def incoming() -> str | None:
            _, inbox = await ma.call("GET", "/api/inbox")
            return next(
                (r["id"] for r in inbox["requests"] if r["msg_id"] == created["msg_id"]), None
            )

        request_id = await wait_until(incoming, what="request at MA")
        status, body = await ma.call("POST", f"/api/requests/{request_id}/responses",
                                     {"body": ANSWER, "language": "fr"})  # fmt: skip
        assert status in (200, 201), body

        async def answered() -> bool:
            _, detail = await es.call("GET", f"/api/requests/{created['id']}")
            return bool(detail["status"] == "answered")

        await wait_until(answered, what="answer at ES")
        return str(created["id"])
    finally:
        await es.close()
        await ma.close()


@sqlite_backup
async def test_online_backup_and_checked_restore(tmp_path: Path) -> None:
    fed = Federation.create(tmp_path, ["ES-CNA", "MA-CNA"])
    await fed.start()
    try:
        request_id = await _exchange(fed)
        out = tmp_path / "es-backup.db"
        # while the node is running and writing
        size = await asyncio.to_thread(backup, fed["ES-CNA"].data, out)
        assert size > 0 and (out.stat().st_mode & 0o777) == 0o600
    finally:
        await fed.stop()
    data = fed["ES-CNA"].data
    with pytest.raises(ExchangeError, match="pass --force"):
        restore(out, data)
    (data / "exchange.db").unlink()
    report = restore(out, data)
    assert report.ok and report.entries > 5
    assert main(["audit", "verify", "--data", str(data), "--offline"]) == 0
    await fed.start("ES-CNA")
    try:
        client = await ApiClient(fed["ES-CNA"]).login("investigator")
        status, detail = await client.call("GET", f"/api/requests/{request_id}")
        assert status == 200 and detail["status"] == "answered"
        await client.close()
    finally:
        await fed.stop()

    damaged = tmp_path / "damaged.db"
    damaged.write_bytes(out.read_bytes())
    conn = sqlite3.connect(damaged)
    with conn:
        conn.execute("UPDATE audit_entries SET entry = CAST('{}' AS BLOB) WHERE idx = 2")
    conn.close()
    with pytest.raises(ExchangeError, match="does not verify"):
        restore(damaged, data, force=True)
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"not a database" * 100)
    with pytest.raises(ExchangeError, match="not a usable database"):
        restore(garbage, data, force=True)
    assert main(["audit", "verify", "--data", str(data), "--offline"]) == 0  # nothing was replaced


def _secrets(fed: Federation) -> dict[str, bytes]:
    found = {"subject": SUBJECT.encode(), "body": BODY.encode(), "answer": ANSWER.encode(),
             "password": PASSWORD.encode()}  # fmt: skip
    for member in fed.members.values():
        for path in (member.data / "keys").glob("*.json"):
            doc = json.loads(path.read_text())
            if "private_key" in doc:
                found[f"{path.name} (base64)"] = doc["private_key"].encode()
                found[f"{path.name} (raw)"] = b64d(doc["private_key"])
        found["storage key"] = (member.data / "keys" / "storage.key").read_bytes().strip()
    return found


async def test_no_plaintext_key_or_password_in_databases_or_logs(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    fed = Federation.create(tmp_path, ["ES-CNA", "MA-CNA"])
    await fed.start()
    try:
        await _exchange(fed)
    finally:
        await fed.stop()
    logs = "".join(capfd.readouterr()).encode()
    assert b"request_queued" in logs  # the logs were captured
    stored = {m.authority_id: stored_bytes(m.data) for m in fed.members.values()}
    for name, secret in _secrets(fed).items():
        assert secret not in logs, f"{name} appears in the logs"
        for authority, data in stored.items():
            assert secret not in data, f"{name} appears in {authority}'s storage"
