"""Erasure against crashes, played with real SIGKILLs of ``exchange retention run``
(issue 15 red team; docs/THREAT_MODEL.md, storage).

* Killed at random moments, again and again, each time with one more request due: the
  node that starts next reads every record that stays, and no key left in the data
  folder reads an erased one from a backup taken before the first kill.
* Killed while the storage key is replaced, between a KEK file's new copy being written
  and its rename: the copy, sealed by the storage key that stays, must not outlive the
  KEK once an erasure destroys it (an insider with keys/ and an earlier backup would
  read the erased record with it).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import nacl.exceptions
import nacl.secret

from exchange.core.canonical import format_time
from exchange.core.vault import KEK_ID_BYTES, kek_of
from exchange.ops.keyfiles import load_storage_key

from ..federation import ApiClient, Federation, Member, wait_until
from ..storage import copy_tables, raw_connection
from .test_erasure_reaches_every_copy import (
    COPIED,
    KEPT,
    NAME,
    _keys_left,
    _readable,
    _rows,
    _two_requests,
    retention_federation,
)
from .test_erasure_storage_key import _make_legacy

# ``exchange retention run`` in a process that kills itself (SIGKILL, no clean-up of any
# kind) when it is about to rename a file over a KEK file: the moment a crash leaves the
# KEK's new copy in its temporary file.
KILLED_AT_KEK_RENAME = """
import os, signal, sys
rename = os.replace
def replace(src, dst, *args, **kwargs):
    if str(dst).endswith(".kek"):
        os.kill(os.getpid(), signal.SIGKILL)
    return rename(src, dst, *args, **kwargs)
os.replace = replace
from exchange.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _retention_run(member: Member, *, code: str | None = None) -> subprocess.Popen[bytes]:
    head = ["-c", code] if code is not None else ["-m", "exchange"]
    return subprocess.Popen(
        [sys.executable, *head, "retention", "run", "--data", str(member.data)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )


def _keks_from_any_file(member: Member, kid: str) -> list[tuple[str, bytes]]:
    """Every file under keys/ that the storage key left opens as KEK ``kid``."""
    box = nacl.secret.Aead(load_storage_key(member.config.keys_dir))
    found = []
    for path in sorted(member.config.keys_dir.rglob("*")):
        if not path.is_file():
            continue
        with contextlib.suppress(nacl.exceptions.CryptoError, ValueError):
            kek = box.decrypt(path.read_bytes(), b"exchange-kek:" + kid.encode())
            found.append((path.name, bytes(kek)))
    return found


def _kek_of_request(database: Path, request_id: str) -> str:
    conn = sqlite3.connect(database)
    try:
        messages, _ = _rows(conn, request_id)
        kid = kek_of(bytes(messages[0]["content_key"]))
    finally:
        conn.close()
    assert kid is not None and len(kid) == KEK_ID_BYTES
    return kid


async def test_a_kek_copy_left_by_a_crash_mid_rename_does_not_outlive_the_kek(
    tmp_path: Path,
) -> None:
    fed, clock = await retention_federation(tmp_path)
    es = fed["ES-CNA"]
    try:
        erased, kept = await _two_requests(fed)
        await fed.stop("ES-CNA")
        _make_legacy(es, clock)  # so the pass replaces the storage key, re-sealing KEKs
        process = _retention_run(es, code=KILLED_AT_KEK_RENAME)
        assert process.wait(timeout=120) == -signal.SIGKILL
        assert (es.config.keys_dir / "storage.key.next").exists()  # killed mid-replacement

        await fed.start("ES-CNA")  # finishes the replacement
        assert not (es.config.keys_dir / "storage.key.next").exists()
        before = tmp_path / "before-erasure.db"
        copy_tables(es.data, before, COPIED)
        kid = _kek_of_request(before, erased)
        clock.advance(timedelta(days=11))
        from exchange.ops.retention import run_pass

        assert run_pass(es.node.db, es.config, clock, es.node.vault)["requests_erased"] == 1
        assert es.node.vault.keks.get(kid) is None  # the KEK itself is destroyed
        assert _keks_from_any_file(es, kid) == []  # and no copy of it is left in keys/
        investigator = await ApiClient(es).login("investigator")
        _, view = await investigator.call("GET", f"/api/requests/{kept}")
        assert view["messages"][0]["content"]["body"] == KEPT
        await investigator.close()
    finally:
        await fed.stop()


async def _requests(fed: Federation, n: int) -> list[tuple[str, str]]:
    """``n`` pairs of requests from ES to MA: one answered (due for erasure once its last
    activity is 10 days old), one still open (kept)."""
    es, ma = fed["ES-CNA"], fed["MA-CNA"]
    investigator = await ApiClient(es).login("investigator")
    form = {"to": "MA-CNA", "kind": "information_request", "urgency": "urgent",
            "language": "en", "subject": "Passport"}  # fmt: skip
    pairs, answer = [], {}
    for _ in range(n):
        _, erased = await investigator.call(
            "POST", "/api/requests", {**form, "body": f"Who is {NAME}?"}
        )
        _, kept = await investigator.call("POST", "/api/requests", {**form, "body": KEPT})
        pairs.append((str(erased["id"]), str(kept["id"])))
        answer[erased["msg_id"]] = str(erased["id"])
    liaison = await ApiClient(ma).login("liaison")

    async def arrived() -> list[dict[str, Any]]:
        _, inbox = await liaison.call("GET", "/api/inbox?limit=100")
        rows = [r for r in inbox["requests"] if r["msg_id"] in answer]
        return rows if len(rows) == n else []

    for row in await wait_until(arrived, what="the requests at MA"):
        status, _ = await liaison.call("POST", f"/api/requests/{row['id']}/responses",
                                       {"body": "Him."})  # fmt: skip
        assert status == 200

    async def answered() -> bool:
        for request_id in answer.values():
            _, view = await investigator.call("GET", f"/api/requests/{request_id}")
            if view["status"] != "answered":
                return False
        return True

    await wait_until(answered, what="the answers back at ES")
    await investigator.close()
    await liaison.close()
    return pairs


async def test_retention_runs_killed_at_random_moments_lose_no_survivor(tmp_path: Path) -> None:
    """Six rounds: one more request made due, ``exchange retention run`` killed after a
    random delay, then run to its end. Then the node reads every request that stays, and
    nothing left in keys/ reads an erased one from the backup taken before the first."""
    fed, _ = await retention_federation(tmp_path)
    es = fed["ES-CNA"]
    try:
        pairs = await _requests(fed, 6)
        await fed.stop("ES-CNA")
        before = tmp_path / "before-the-kills.db"
        copy_tables(es.data, before, COPIED)
        chance = random.Random(20)  # noqa: S311 (when to kill, not a secret)
        for erased, _ in pairs:
            # made due as time would: its last activity 11 days ago (the CLI reads the
            # system clock)
            old = format_time(datetime.now(UTC) - timedelta(days=11))
            conn = raw_connection(es.data)
            with conn:
                conn.execute("UPDATE requests SET updated_at = ? WHERE id = ?", (old, erased))
            conn.close()
            process = _retention_run(es)
            await asyncio.sleep(chance.uniform(0.2, 3.0))  # the kill's moment, chosen at random
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=60)
            assert _retention_run(es).wait(timeout=120) == 0

        await fed.start("ES-CNA")
        investigator = await ApiClient(es).login("investigator")
        for erased, kept in pairs:
            _, view = await investigator.call("GET", f"/api/requests/{kept}")
            assert view["messages"][0]["content"]["body"] == KEPT
            _, view = await investigator.call("GET", f"/api/requests/{erased}")
            assert view["erased_at"] is not None and NAME not in str(view)
        await investigator.close()
        conn = sqlite3.connect(before)
        try:
            for erased, _ in pairs:
                for what, vault in [*_keys_left(es), ("the node", es.node.vault)]:
                    assert _readable(vault, conn, erased) == [], f"{what} reads {erased}"
        finally:
            conn.close()
    finally:
        await fed.stop()
