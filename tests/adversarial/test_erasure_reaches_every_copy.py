"""Erasure reaches every copy (docs/THREAT_MODEL.md, storage): an insider who kept a
backup from before a retention pass, and who has the keys folder, cannot read the
erased record; nothing in the data folder still holds it; a record sealed in the same
month that was not erased still reads.

The insider's tools: every file of the data folder and of keys/ (storage.key, the
period keys), a backup taken before the erasure, and the node's own vault."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from exchange.cli import main
from exchange.core.clock import ManualClock
from exchange.core.errors import DecryptionFailed
from exchange.core.vault import Vault
from exchange.ops.backup import backup

from ..federation import FAST_DELIVERY, ApiClient, Federation, Member, wait_until
from ..storage import (
    copy_tables,
    dicts,
    raw_connection,
    sqlite_backup,
    sqlite_only,
    stored_bytes,
)

RETENTION = "\n[retention]\nfinished_days = 10\nundelivered_days = 5\n"


async def retention_federation(tmp_path: Path) -> tuple[Federation, ManualClock]:
    """ES and MA started on a test clock, with short retention periods and a directory
    valid long enough for the clock to run past them."""
    clock = ManualClock(datetime.now(UTC).replace(microsecond=0))
    fed = Federation.create(
        tmp_path, ["ES-CNA", "MA-CNA"], clock=clock, extra_config=FAST_DELIVERY + RETENTION
    )
    fed.publish(valid=timedelta(days=60))
    await fed.start()
    return fed, clock


NAME = "MARIA-LOPEZ-GARCIA-1987"  # in the erased request's text
FILENAME = "passport-Maria-Lopez-Garcia.jpg"
FILE = b"SCAN-OF-A-PASSPORT-0042 " * 400
KEPT = "KEPT-REQUEST-STILL-OPEN"  # the request of the same month that stays


async def _upload(client: ApiClient, data: bytes, filename: str) -> dict[str, Any]:
    form = aiohttp.FormData()
    form.add_field("file", data, filename=filename, content_type="image/jpeg")
    async with client.session.post(
        client.member.url + "/api/attachments",
        data=form,
        headers={"X-CSRF-Token": client.csrf},
        ssl=client.ssl,
    ) as r:
        assert r.status == 201
        return dict(await r.json())


async def _two_requests(fed: Federation) -> tuple[str, str]:
    """ES asks MA twice in the same month: one request answered (finished: due for
    erasure after 10 days) with a file, one still open (kept)."""
    es, ma = fed["ES-CNA"], fed["MA-CNA"]
    investigator = await ApiClient(es).login("investigator")
    photo = await _upload(investigator, FILE, FILENAME)
    form = {"to": "MA-CNA", "kind": "information_request", "urgency": "urgent",
            "language": "en", "subject": "Passport"}  # fmt: skip
    _, erased = await investigator.call(
        "POST", "/api/requests",
        {**form, "body": f"Who is {NAME}?", "attachments": [photo["id"]]},
    )  # fmt: skip
    liaison = await ApiClient(ma).login("liaison")

    async def incoming() -> str:
        _, inbox = await liaison.call("GET", "/api/inbox")
        return str(inbox["requests"][0]["id"]) if inbox["requests"] else ""

    at_ma = await wait_until(incoming, what="the request at MA")
    status, _ = await liaison.call("POST", f"/api/requests/{at_ma}/responses", {"body": "Him."})
    assert status == 200

    async def answered() -> bool:
        _, view = await investigator.call("GET", f"/api/requests/{erased['id']}")
        return bool(view["status"] == "answered")

    await wait_until(answered, what="the answer back at ES")
    _, kept = await investigator.call("POST", "/api/requests", {**form, "body": KEPT})
    await investigator.close()
    await liaison.close()
    return str(erased["id"]), str(kept["id"])


def _rows(conn: sqlite3.Connection, request_id: str) -> tuple[list[Any], list[Any]]:
    messages = dicts(conn.execute("SELECT * FROM messages WHERE request_id = ?", (request_id,)))
    ids = [m["msg_id"] for m in messages]
    marks = ",".join("?" * len(ids))
    files = conn.execute(f"SELECT * FROM attachments WHERE msg_id IN ({marks})", ids)  # noqa: S608
    return messages, dicts(files)


# What an insider's copy of the database keeps of a request (a backup; on PostgreSQL,
# these tables of a pg_dump: tests/storage.copy_tables).
COPIED = ("messages", "attachments", "drafts")


def _secrets(member: Member, request_id: str) -> list[tuple[str, bytes]]:
    """What must be nowhere after the erasure: every wrapped key and ciphertext of the
    request (their last 48 bytes: nonce, body and tag are the record's own), and its
    blob files."""
    conn = raw_connection(member.data, read_only=True)
    try:
        messages, files = _rows(conn, request_id)
    finally:
        conn.close()
    found = []
    for m in messages:
        for column in ("content_key", "content", "evidence_key", "evidence_doc"):
            if m[column] is not None:
                found.append((f"messages.{column}", bytes(m[column])[-48:]))
    for f in files:
        found.append(("attachments.key_wrapped", bytes(f["key_wrapped"])[-48:]))
        blob = (member.data / "blobs" / f["blob_sha256"]).read_bytes()
        found.append(("blob file", blob[-48:]))
    assert len(found) >= 4
    return found


def _scan(place: Path, needles: list[tuple[str, bytes]]) -> list[str]:
    """A file, or every file under a folder (database, WAL, SHM, blobs, keys), byte by
    byte."""
    paths = [place] if place.is_file() else sorted(p for p in place.rglob("*") if p.is_file())
    hits = []
    for path in paths:
        data = path.read_bytes()
        hits += [f"{what} in {path.name}" for what, n in needles if n in data]
    return hits


def _scan_node(member: Member, needles: list[tuple[str, bytes]]) -> list[str]:
    """Every file of the data folder, and the node's storage (on PostgreSQL, outside it)."""
    stored = stored_bytes(member.data)
    return _scan(member.data, needles) + [
        f"{what} in storage" for what, n in needles if n in stored
    ]


def _wal(member: Member) -> Path:
    return Path(str(member.config.database) + "-wal")


def _kek_material(member: Member) -> list[tuple[str, bytes]]:
    """The period keys as files and as keys (none on a version without them)."""
    found = []
    for path in (member.config.keys_dir / "periods").glob("*.kek"):
        found.append((f"{path.name} (file)", path.read_bytes()[-48:]))
        key = member.node.vault.keks.get(path.stem)
        assert key is not None
        found.append((f"{path.name} (key)", key))
    return found


def _plaintexts() -> list[tuple[str, bytes]]:
    return [("the name typed in the request", NAME.encode()),
            ("the filename", FILENAME.encode()), ("the file", FILE[:48])]  # fmt: skip


def _keys_left(member: Member) -> list[tuple[str, Vault]]:
    """Every vault an insider can make from what is left in keys/: each 32-byte file
    as a storage key, and storage.key with every period key file (if this version
    has them)."""
    keys_dir = member.config.keys_dir
    vaults = [(f"{p.name} as a storage key", Vault(p.read_bytes()))
              for p in keys_dir.rglob("*") if p.is_file() and p.stat().st_size == 32]  # fmt: skip
    try:
        from exchange.ops.period_keys import open_vault
    except ImportError:
        return vaults
    return [*vaults, ("storage.key and keys/periods", open_vault(member.config, ManualClock(
        datetime.now(UTC))))]  # fmt: skip


def _readable(vault: Vault, conn: sqlite3.Connection, request_id: str) -> list[str]:
    messages, files = _rows(conn, request_id)
    read = []
    for m in messages:
        if m["content_key"] is None:
            continue
        try:
            record = f"message:{m['sender']}:{m['msg_id']}"
            vault.open(m["content_key"], m["content"], record=record)
            read.append(f"message {m['msg_id']}")
        except DecryptionFailed:
            pass
    for f in files:
        try:
            vault.unwrap(f["key_wrapped"], record=f"attachment:{f['id']}")
            read.append(f"file key {f['id']}")
        except DecryptionFailed:
            pass
    return read


async def test_after_an_erasure_no_copy_and_no_key_left_reads_the_record(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The node lives 40 days ago (its clock); the retention command runs at today's
    # time, when the answered request is 30 days past its last activity.
    clock = ManualClock(datetime.now(UTC).replace(microsecond=0) - timedelta(days=40))
    fed = Federation.create(
        tmp_path, ["ES-CNA", "MA-CNA"], clock=clock, extra_config=FAST_DELIVERY + RETENTION
    )
    fed.publish(valid=timedelta(days=60))
    await fed.start()
    es = fed["ES-CNA"]
    try:
        erased, kept = await _two_requests(fed)
        secrets = _secrets(es, erased)
        before = tmp_path / "before-erasure.db"
        copy_tables(es.data, before, COPIED)
        keks = _kek_material(es)
        await fed.stop("ES-CNA")

        assert main(["retention", "run", "--data", str(es.data), "--json"]) == 0
        assert '"requests_erased": 1' in capsys.readouterr().out

        # the data folder holds nothing of the erased request any more
        assert _scan_node(es, secrets + _plaintexts()) == []
        # the backup holds its ciphertexts (a copy), but none of its plaintext
        assert _scan(before, _plaintexts()) == [], "plaintext in the backup"
        assert _scan(before, keks) == [], "a KEK in the backup"
        # nothing left in keys/ decrypts the backup's copy
        conn = sqlite3.connect(before)
        try:
            assert len(_rows(conn, erased)[0]) == 2  # the copy is there: question, answer
            for what, vault in _keys_left(es):
                assert _readable(vault, conn, erased) == [], f"{what} reads the erased record"
        finally:
            conn.close()

        # the request of the same month that stays still reads, from the node
        await fed.start("ES-CNA")
        investigator = await ApiClient(es).login("investigator")
        _, view = await investigator.call("GET", f"/api/requests/{kept}")
        assert view["messages"][0]["content"]["body"] == KEPT
        _, gone = await investigator.call("GET", f"/api/requests/{erased}")
        assert all(m["content"] == {"erased": True} for m in gone["messages"])
        await investigator.close()
        conn = sqlite3.connect(before)
        try:  # nor does the running node's own vault read the backup's copy
            assert _readable(es.node.vault, conn, erased) == []
        finally:
            conn.close()
    finally:
        await fed.stop()


class Crash(Exception):
    """The process dies here (the test then starts a new node on the same folder)."""


def _crash_at(where: str) -> Callable[[str], None]:
    def step(reached: str) -> None:
        if reached == where:
            raise Crash(where)

    return step


def _kek_files(member: Member) -> set[str]:
    return {p.stem for p in (member.config.keys_dir / "periods").glob("*.kek")}


@pytest.mark.parametrize("where", ["kek_written", "committed", "keys_destroyed"])
async def test_a_crash_at_any_step_of_an_erasure_loses_no_survivor(
    tmp_path: Path, where: str
) -> None:
    """A crash after the new KEK is written (the transaction rolls back), after the
    commit (the old KEK file still there) or after the old KEKs are destroyed: the node
    that starts next reads every record that stays, finishes the erasure, and leaves
    no KEK that no stored key names."""
    from exchange.ops.retention import run_pass
    from exchange.store.period_keys import in_use

    fed, clock = await retention_federation(tmp_path)
    es = fed["ES-CNA"]
    try:
        erased, kept = await _two_requests(fed)
        before = tmp_path / "before-erasure.db"
        copy_tables(es.data, before, COPIED)
        clock.advance(timedelta(days=11))
        with pytest.raises(Crash):
            run_pass(es.node.db, es.config, clock, es.node.vault, step=_crash_at(where))
        await fed.stop("ES-CNA")
        await fed.start("ES-CNA")  # its own daily pass runs at start

        async def settled() -> bool:
            used = await es.node.db.run(in_use)
            view = await es.node.db.run(
                lambda c: c.execute(
                    "SELECT erased_at FROM requests WHERE id = ?", (erased,)
                ).fetchone()[0]
            )
            return view is not None and _kek_files(es) == used

        await wait_until(settled, what="the erasure finished, and only used KEKs left")
        investigator = await ApiClient(es).login("investigator")
        _, view = await investigator.call("GET", f"/api/requests/{kept}")
        assert view["messages"][0]["content"]["body"] == KEPT
        await investigator.close()
        conn = sqlite3.connect(before)
        try:
            assert _readable(es.node.vault, conn, erased) == []
            for what, vault in _keys_left(es):
                assert _readable(vault, conn, erased) == [], f"{what} reads the erased record"
            # by design, the backup's copy of the survivor went with the period's old KEK
            # (docs/OPERATIONS.md: back up again after each retention pass)
            assert _readable(es.node.vault, conn, kept) == []
        finally:
            conn.close()
    finally:
        await fed.stop()


@sqlite_only(
    "secure_delete and the WAL truncated, in SQLite's files; on PostgreSQL the pass's"
    " VACUUM prunes the row versions: test_postgres_storage.py::"
    "test_the_retention_pass_prunes_erased_row_versions"
)
async def test_the_running_nodes_pass_leaves_nothing_in_its_files_or_wal(tmp_path: Path) -> None:
    """The node's own pass, while it serves: its database, WAL and SHM files hold none of
    the erased record once the pass returns (secure_delete, then the WAL truncated)."""
    from exchange.ops.retention import run_pass

    fed, clock = await retention_federation(tmp_path)
    es = fed["ES-CNA"]
    try:
        erased, _ = await _two_requests(fed)
        secrets = _secrets(es, erased)
        clock.advance(timedelta(days=11))
        summary = run_pass(es.node.db, es.config, clock, es.node.vault)
        assert summary["requests_erased"] == 1 and summary["keys_destroyed"] >= 1
        assert summary["keys_rewrapped"] >= 1  # the other request's keys, under a new KEK
        assert _wal(es).exists()  # the node still runs on it
        assert _scan(es.data, secrets + _plaintexts()) == []
    finally:
        await fed.stop()


async def test_a_second_writer_of_the_period_keys_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`exchange retention run` beside the running node would be a second process
    rotating and destroying KEKs the node still wraps under: it is refused, and
    nothing changes."""
    fed = Federation.create(tmp_path, ["ES-CNA"])
    await fed.start()
    es = fed["ES-CNA"]
    try:
        investigator = await ApiClient(es).login("investigator")
        await _upload(investigator, FILE, FILENAME)  # a KEK for this month exists
        await investigator.close()
        keks = _kek_files(es)
        assert keks
        assert main(["retention", "run", "--data", str(es.data)]) == 2
        assert "keys_in_use" in capsys.readouterr().err
        assert _kek_files(es) == keks
    finally:
        await fed.stop()


@sqlite_backup
async def test_a_backup_restored_after_an_erasure_stays_erased_and_retention_goes_on(
    tmp_path: Path,
) -> None:
    """Restoring a backup taken before an erasure does not bring the record back: the
    KEKs its keys were wrapped under are gone (the survivors of that month too, by
    design: docs/OPERATIONS.md), and the node's next pass erases it again rather than
    fail on keys it can no longer re-wrap."""
    from exchange.ops.retention import run_pass

    fed, clock = await retention_federation(tmp_path)
    es = fed["ES-CNA"]
    try:
        erased, kept = await _two_requests(fed)
        before = tmp_path / "before-erasure.db"
        backup(es.data, before)
        clock.advance(timedelta(days=11))
        assert run_pass(es.node.db, es.config, clock, es.node.vault)["requests_erased"] == 1
        await fed.stop("ES-CNA")
        # (the peer witness runs on the test's clock, eleven days ahead of this command's:
        # it cannot be asked, so the restore is told not to; tests/adversarial/
        # test_restore_rollback.py covers restoring against the witnesses)
        argv = ["restore", "--data", str(es.data), "--backup", str(before), "--force"]
        assert await asyncio.to_thread(main, [*argv, "--offline"]) == 0
        await fed.start("ES-CNA")  # its daily pass runs at start

        async def erased_again() -> bool:
            row = await es.node.db.run(
                lambda c: c.execute(
                    "SELECT erased_at FROM requests WHERE id = ?", (erased,)
                ).fetchone()
            )
            return row[0] is not None

        await wait_until(erased_again, what="the restored request erased again")
        investigator = await ApiClient(es).login("investigator")
        status, body = await investigator.call("GET", f"/api/requests/{kept}")
        assert (status, body["error"]["code"]) == (400, "decryption_failed")
        _, view = await investigator.call("GET", f"/api/requests/{erased}")
        assert all(m["content"] == {"erased": True} for m in view["messages"])
        await investigator.close()
    finally:
        await fed.stop()


async def test_a_discarded_draft_is_unreadable_from_earlier_backups_after_the_next_pass(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Discarding a draft deletes its sealed form; the next retention pass rotates the
    KEK it was wrapped under, so a backup taken while the draft existed no longer reads
    it with any key left (nor with the node's own vault)."""
    fed = Federation.create(tmp_path, ["ES-CNA", "MA-CNA"])
    await fed.start()
    es = fed["ES-CNA"]
    try:
        investigator = await ApiClient(es).login("investigator")
        form = {"to": "MA-CNA", "kind": "information_request", "urgency": "urgent",
                "language": "en", "subject": "Draft", "body": f"Who is {NAME}?"}  # fmt: skip
        status, draft = await investigator.call("POST", "/api/drafts", form)
        assert status == 201
        _, kept = await investigator.call("POST", "/api/drafts", {**form, "body": KEPT})
        before = tmp_path / "before-discard.db"
        copy_tables(es.data, before, COPIED)
        status, _ = await investigator.call("DELETE", f"/api/drafts/{draft['id']}")
        assert status == 200
        await investigator.close()
        await fed.stop("ES-CNA")
        assert main(["retention", "run", "--data", str(es.data), "--json"]) == 0
        capsys.readouterr()

        conn = sqlite3.connect(before)
        try:
            (wrapped, sealed) = conn.execute(
                "SELECT content_key, content FROM drafts WHERE request_id = ?", (draft["id"],)
            ).fetchone()
            for what, vault in _keys_left(es):
                with pytest.raises(DecryptionFailed):
                    vault.open(wrapped, sealed, record=f"draft:{draft['id']}")
                    pytest.fail(f"{what} reads the discarded draft")
        finally:
            conn.close()
        await fed.start("ES-CNA")
        investigator = await ApiClient(es).login("investigator")
        status, view = await investigator.call("GET", f"/api/requests/{kept['id']}")
        assert status == 200 and KEPT in json.dumps(view)  # the other draft still reads
        await investigator.close()
    finally:
        await fed.stop()
