"""A key thief (issue 14, break 3): a copy of ES-CNA's ``keys/`` taken before it
rotates. After rotation and republication the stolen signing key is verify-only
(``expired_key``); after ``exchange keys revoke --compromised-at T`` nothing it signs
dated from T on is accepted (``key_revoked``), while a receipt MA-CNA verified and
stored before stays valid evidence."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from exchange.core.audit_entry import decode_entry
from exchange.core.canonical import sha256_hex
from exchange.core.clock import ManualClock, SystemClock
from exchange.core.keys import SigningKeyPair
from exchange.core.receipt import parse_receipt, verify_receipt
from exchange.ops.audit_check import verify_data_dir
from exchange.ops.keyfiles import load_keyring
from exchange.ops.provision import delete_expired_keys, revoke_key, rotate_keys
from exchange.store import audit
from exchange.store.messages import evidence_record

from ..federation import ApiClient, Federation, peer_post, wait_until
from ..node.test_delivery import REQUEST, count_is
from ..node.test_peer_rejections import envelope, snapshot
from ..storage import node_database


async def call(fed: Federation, path: str, body: bytes, key: SigningKeyPair) -> tuple[int, Any]:
    """POST to MA-CNA's peer API as ES-CNA, the call signed with ``key``."""
    return await peer_post(fed, "ES-CNA", "MA-CNA", path, body, key=key)


async def republish(fed: Federation) -> None:
    document = fed.publish()
    for member in fed.members.values():
        await member.node.directory.update(document)


async def rotate_es(fed: Federation) -> SigningKeyPair:
    """ES-CNA rotates (as its admin would) and the operator republishes; returns the
    new signing key."""
    await fed.stop("ES-CNA")
    rotate_keys(fed["ES-CNA"].data)
    await fed.start("ES-CNA")
    await republish(fed)
    return fed["ES-CNA"].node.keys.current_signing(fed.clock.now())


def all_entries(conn: Any) -> list[tuple[int, bytes]]:
    return audit.entries(conn, 0, audit.size(conn))


def error(body: Any) -> str:
    return str(body["error"]["code"])


async def test_a_stolen_key_signs_nothing_after_rotation(tmp_path: Path) -> None:
    fed = Federation.create(tmp_path, ["ES-CNA", "MA-CNA"], users=False)
    await fed.start()
    try:
        stolen = load_keyring(fed["ES-CNA"].data / "keys").current_signing(fed.clock.now())
        new = await rotate_es(fed)
        assert new.public.key_id != stolen.public.key_id
        now = fed.clock.now()
        assert fed["ES-CNA"].node.signing_key(now).public.key_id == new.public.key_id
        before = await snapshot(fed, "MA-CNA")
        # the thief's own call, dated now
        status, body = await call(fed, "/v1/envelopes", envelope(fed, key=stolen), stolen)
        assert (status, error(body)) == (403, "expired_key")
        # even carried by a call the real node signs, an envelope dated now is refused
        status, body = await call(fed, "/v1/envelopes", envelope(fed, key=stolen), new)
        assert (status, error(body)) == (403, "expired_key")
        assert await snapshot(fed, "MA-CNA") == before
        # the real node, signing with its new key, still gets through
        status, _ = await call(fed, "/v1/envelopes", envelope(fed, key=new), new)
        assert status == 200
    finally:
        await fed.stop()


async def test_a_revoked_key_is_refused_from_its_compromise_and_old_receipts_hold(
    tmp_path: Path,
) -> None:
    fed = Federation.create(tmp_path, ["ES-CNA", "MA-CNA"])
    await fed.start()
    try:
        stolen = load_keyring(fed["ES-CNA"].data / "keys").current_signing(fed.clock.now())
        ma = await ApiClient(fed["MA-CNA"]).login("investigator")
        status, _ = await ma.call("POST", "/api/requests", {**REQUEST, "to": "ES-CNA"})
        assert status == 201
        await ma.close()
        sql = "SELECT COUNT(*) FROM messages WHERE receipt IS NOT NULL"
        await wait_until(lambda: count_is(fed, "MA-CNA", sql, 1), what="ES-CNA's receipt")
        new = await rotate_es(fed)
        compromised_at = fed.clock.now()
        revoked = revoke_key(
            fed["ES-CNA"].data, stolen.public.key_id, compromised_at=compromised_at
        )
        assert revoked.revoked_at == compromised_at
        await republish(fed)
        keys = fed["ES-CNA"].data / "keys"
        hex_id = stolen.public.key_id.split(":")[1]
        assert not (keys / f"signing-{hex_id}.json").exists()  # the private key is gone
        assert (keys / f"revoked-{hex_id}.json").exists()  # its public half stays published
        before = await snapshot(fed, "MA-CNA")
        status, body = await call(fed, "/v1/envelopes", envelope(fed, key=stolen), stolen)
        assert (status, error(body)) == (403, "key_revoked")
        status, body = await call(fed, "/v1/envelopes", envelope(fed, key=stolen), new)
        assert (status, error(body)) == (403, "key_revoked")
        assert await snapshot(fed, "MA-CNA") == before
        # the receipt MA-CNA stored before the compromise is still evidence
        row = await fed["MA-CNA"].node.db.run(
            lambda c: c.execute(
                "SELECT msg_id, sender, envelope_sha256, receipt, evidence_key, evidence_doc"
                " FROM messages WHERE receipt IS NOT NULL"
            ).fetchone()
        )
        # the evidence document MA-CNA keeps of what it sent, which the receipt names
        vault = fed["MA-CNA"].node.vault
        kept = vault.open(row[4], row[5], record=evidence_record(row[1], row[0]))
        receipt = parse_receipt(row[3].encode() if isinstance(row[3], str) else row[3])
        assert receipt.key_id == stolen.public.key_id
        verify_receipt(
            receipt,
            directory=fed["MA-CNA"].node.directory.require(),
            expected_msg_id=row[0],
            expected_sender="MA-CNA",
            expected_recipient="ES-CNA",
            expected_envelope_sha256=row[2],
            expected_evidence_sha256=sha256_hex(kept),
        )
        await fed.stop()
        assert verify_data_dir(fed["MA-CNA"].data).ok
        db = node_database(fed["ES-CNA"].data)
        try:
            actions = [decode_entry(e) for _, e in db.run_sync(all_entries)]
        finally:
            db.close()
        revocation = [e for e in actions if e["action"] in ("key_revoked", "key_deleted")]
        assert [(e["action"], e["key_id"]) for e in revocation] == [
            ("key_revoked", stolen.public.key_id),
            ("key_deleted", stolen.public.key_id),
        ]
    finally:
        await fed.stop()


def test_expired_private_keys_are_deleted_and_audited(tmp_path: Path) -> None:
    clock = ManualClock(SystemClock().now())
    fed = Federation.create(tmp_path, ["ES-CNA"], users=False, clock=clock)
    config = fed["ES-CNA"].config
    clock.advance(timedelta(days=30))
    rotate_keys(fed["ES-CNA"].data, clock=clock)
    old = load_keyring(config.keys_dir)
    db = node_database(fed["ES-CNA"].data)
    try:
        assert delete_expired_keys(db, config, clock) == []
        clock.advance(timedelta(days=336))  # the first keys expired a day ago (the grace)
        deleted = delete_expired_keys(db, config, clock)
        assert deleted == [old.signing[0].public.key_id, old.encryption[0].public.key_id]
        ring = load_keyring(config.keys_dir)
        assert [k.public.key_id for k in ring.signing] == [old.signing[1].public.key_id]
        entries = [decode_entry(e) for _, e in db.run_sync(all_entries)]
        assert [e["key_id"] for e in entries if e["action"] == "key_deleted"] == deleted
    finally:
        db.close()
