"""Erasure reaches copies made before period keys (docs/THREAT_MODEL.md, storage): a
database whose record keys were wrapped by the storage key itself is re-wrapped under
period keys when a node opens it, and the storage key is replaced, so a backup from
before the upgrade reads nothing with today's keys; a crash while the storage key is
replaced loses nothing; a protected storage key stays protected."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from exchange.core.clock import ManualClock
from exchange.core.vault import Vault

from ..federation import ApiClient, Federation, Member
from ..storage import copy_tables, raw_connection
from .test_erasure_reaches_every_copy import (
    COPIED,
    FILENAME,
    KEPT,
    NAME,
    _keys_left,
    _readable,
    _two_requests,
    retention_federation,
)


def _make_legacy(member: Member, clock: ManualClock) -> None:
    """Turn a stopped node's database back into one from before period keys (record
    keys wrapped by storage.key, filenames in clear), and remove its period keys."""
    import nacl.secret

    from exchange.core.vault import open_name
    from exchange.ops.keyfiles import load_storage_key
    from exchange.ops.period_keys import open_vault
    from exchange.store.period_keys import KEYED

    legacy = nacl.secret.Aead(load_storage_key(member.config.keys_dir))
    vault = open_vault(member.config, clock)
    conn = raw_connection(member.data)
    with conn:
        for k in KEYED:
            rows = conn.execute(
                f"SELECT rowid, {k.record}, {k.column} FROM {k.table}"  # noqa: S608
                f" WHERE {k.column} IS NOT NULL"
            ).fetchall()
            for rowid, record, wrapped in rows:
                key = vault.unwrap(wrapped, record=record)
                old = bytes(legacy.encrypt(key, record.encode()))
                sql = f"UPDATE {k.table} SET {k.column} = ? WHERE rowid = ?"  # noqa: S608
                conn.execute(sql, (old, rowid))
        files = conn.execute("SELECT id, key_wrapped, filename_sealed FROM attachments")
        for attachment_id, wrapped, sealed in files.fetchall():
            key = legacy.decrypt(wrapped, f"attachment:{attachment_id}".encode())
            assert open_name(key, sealed, record=f"attachment:{attachment_id}") == FILENAME
            conn.execute(
                "UPDATE attachments SET filename = ?, filename_sealed = NULL WHERE id = ?",
                (FILENAME, attachment_id),
            )
    conn.close()
    for path in (member.config.keys_dir / "periods").glob("*.kek"):
        path.unlink()


async def test_keys_wrapped_by_the_storage_key_are_wrapped_under_period_keys_at_start(
    tmp_path: Path,
) -> None:
    """A database from before period keys (record keys wrapped by storage.key, filenames
    in clear): the node that opens it wraps every key under a KEK, seals every name and
    replaces the storage key, so no record is left that a storage key unwraps, and a
    backup from before the upgrade reads nothing once its record is erased."""

    from exchange.core.vault import LEGACY_WRAPPED_BYTES
    from exchange.ops.keyfiles import load_storage_key
    from exchange.ops.retention import run_pass
    from exchange.store.period_keys import KEYED

    fed, clock = await retention_federation(tmp_path)
    es = fed["ES-CNA"]
    try:
        erased, kept = await _two_requests(fed)
        await fed.stop("ES-CNA")
        _make_legacy(es, clock)
        upgrade = tmp_path / "before-upgrade.db"
        copy_tables(es.data, upgrade, COPIED)
        old_key = load_storage_key(es.config.keys_dir)

        await fed.start("ES-CNA")
        assert load_storage_key(es.config.keys_dir) != old_key
        assert not (es.config.keys_dir / "storage.key.next").exists()
        conn = raw_connection(es.data, read_only=True)
        try:
            for k in KEYED:
                sql = f"SELECT COUNT(*) FROM {k.table} WHERE length({k.column}) = ?"  # noqa: S608
                assert conn.execute(sql, (LEGACY_WRAPPED_BYTES,)).fetchone()[0] == 0, k
            names = conn.execute("SELECT filename, filename_sealed FROM attachments").fetchall()
            assert names and all(n == "" and s is not None for n, s in names)
            assert _readable(Vault(load_storage_key(es.config.keys_dir)), conn, erased) == []
        finally:
            conn.close()
        investigator = await ApiClient(es).login("investigator")
        for request_id, body in ((kept, KEPT), (erased, f"Who is {NAME}?")):
            _, view = await investigator.call("GET", f"/api/requests/{request_id}")
            assert view["messages"][0]["content"]["body"] == body
        await investigator.close()

        clock.advance(timedelta(days=11))
        assert run_pass(es.node.db, es.config, clock, es.node.vault)["requests_erased"] == 1
        conn = sqlite3.connect(upgrade)
        try:  # the old storage key read it: nothing left does
            assert _readable(Vault(old_key), conn, erased) != []
            for what, vault in [*_keys_left(es), ("the node", es.node.vault)]:
                assert _readable(vault, conn, erased) == [], f"{what} reads the erased record"
        finally:
            conn.close()
    finally:
        await fed.stop()


@pytest.mark.parametrize("crashed", ["before_adoption", "after_adoption"])
async def test_a_crash_while_the_storage_key_is_replaced_loses_nothing(
    tmp_path: Path, crashed: str
) -> None:
    """``storage.key.next`` written, then a crash before the re-wrapping commits (the
    keys still wrapped by the old storage key), or after it (the KEK files sealed by the
    old one): the next start reads everything and finishes, the next key in place."""
    import nacl.utils

    from exchange.ops.keyfiles import load_storage_key, write_private

    clock = ManualClock(datetime.now(UTC).replace(microsecond=0))
    fed = Federation.create(tmp_path, ["ES-CNA", "MA-CNA"], clock=clock)
    await fed.start()
    es = fed["ES-CNA"]
    try:
        erased, kept = await _two_requests(fed)
        await fed.stop("ES-CNA")
        if crashed == "before_adoption":
            _make_legacy(es, clock)
        next_key = bytes(nacl.utils.random(32))
        write_private(es.config.keys_dir / "storage.key.next", next_key, new=True)

        await fed.start("ES-CNA")
        assert load_storage_key(es.config.keys_dir) == next_key
        assert not (es.config.keys_dir / "storage.key.next").exists()
        investigator = await ApiClient(es).login("investigator")
        for request_id, body in ((kept, KEPT), (erased, f"Who is {NAME}?")):
            _, view = await investigator.call("GET", f"/api/requests/{request_id}")
            assert view["messages"][0]["content"]["body"] == body
        await investigator.close()
        await fed.stop("ES-CNA")  # and once more, from the files alone
        await fed.start("ES-CNA")
        investigator = await ApiClient(es).login("investigator")
        _, view = await investigator.call("GET", f"/api/requests/{kept}")
        assert view["messages"][0]["content"]["body"] == KEPT
        await investigator.close()
    finally:
        await fed.stop()


async def test_a_protected_storage_key_is_replaced_by_one_protected_the_same_way(
    tmp_path: Path,
) -> None:
    """Replacing a passphrase-protected storage key keeps it protected, by the same
    passphrase: the node starts with it again and reads everything."""
    import nacl.pwhash

    from exchange.core.vault import is_protected
    from exchange.node.runner import start_node
    from exchange.ops.keyfiles import load_storage_key, protect_storage_key_file

    passphrase = b"a long storage passphrase"
    limits = {"opslimit": nacl.pwhash.argon2id.OPSLIMIT_MIN,
              "memlimit": nacl.pwhash.argon2id.MEMLIMIT_MIN}  # fmt: skip
    clock = ManualClock(datetime.now(UTC).replace(microsecond=0))
    fed = Federation.create(tmp_path, ["ES-CNA", "MA-CNA"], clock=clock)
    await fed.start()
    es = fed["ES-CNA"]
    try:
        erased, kept = await _two_requests(fed)
        await fed.stop("ES-CNA")
        _make_legacy(es, clock)
        keys = es.config.keys_dir
        old_key = load_storage_key(keys)
        protect_storage_key_file(keys, passphrase, **limits)
        for _ in range(2):  # replaced at the first start; the second reads it back
            es.running = await start_node(es.config, clock=clock, passphrase=passphrase)
            investigator = await ApiClient(es).login("investigator")
            for request_id, body in ((kept, KEPT), (erased, f"Who is {NAME}?")):
                _, view = await investigator.call("GET", f"/api/requests/{request_id}")
                assert view["messages"][0]["content"]["body"] == body
            await investigator.close()
            await fed.stop("ES-CNA")
            assert is_protected((keys / "storage.key").read_bytes())
            assert load_storage_key(keys, passphrase) != old_key
    finally:
        await fed.stop()
