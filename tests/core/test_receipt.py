"""Receipts signed alone or as a batch (one signature over a Merkle tree of receipts)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from exchange.core.canonical import b64e, canonical_json
from exchange.core.directory import Directory
from exchange.core.errors import BadSignature, BadTime, Malformed, UnsupportedVersion
from exchange.core.keys import SigningKeyPair
from exchange.core.peer_auth import MAX_SKEW
from exchange.core.receipt import check_signed_time, issue_receipts, parse_receipt, verify_receipt
from exchange.web.errors import STATUS

from .authority_factory import make_authority

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def parties() -> tuple[Directory, SigningKeyPair]:
    ma, ma_key, _ = make_authority("MA-CNA", now=NOW - timedelta(days=1))
    es, _, _ = make_authority("ES-CNA", now=NOW - timedelta(days=1))
    directory = Directory(1, NOW - timedelta(days=1), NOW + timedelta(days=30), (es, ma))
    return directory, ma_key


def _fields(n: int) -> list[tuple[str, str, str, str]]:
    return [(f"msg-{i:04d}", "ES-CNA", f"{i:064x}", f"{i + 1:064x}") for i in range(n)]


def _verify(directory: Directory, data: bytes, i: int, **kwargs: object) -> None:
    msg_id, sender, digest, evidence = _fields(i + 1)[i]
    verify_receipt(
        parse_receipt(data),
        directory=directory,
        expected_msg_id=msg_id,
        expected_sender=sender,
        expected_recipient="MA-CNA",
        expected_envelope_sha256=digest,
        expected_evidence_sha256=evidence,
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("n", [1, 2, 3, 7, 100])
def test_each_receipt_of_a_batch_verifies_alone(
    parties: tuple[Directory, SigningKeyPair], n: int
) -> None:
    directory, key = parties
    receipts = issue_receipts(_fields(n), recipient="MA-CNA", received_at=NOW, log_size=3, key=key)
    assert len({r.signature for r in receipts}) == 1  # one signature for all
    assert (receipts[0].batch is None) == (n == 1)
    for i, receipt in enumerate(receipts):
        data = receipt.to_bytes()
        assert parse_receipt(data) == receipt
        _verify(directory, data, i)  # a third party needs nothing else


def test_a_batch_signature_is_checked_once(parties: tuple[Directory, SigningKeyPair]) -> None:
    directory, key = parties
    receipts = issue_receipts(_fields(5), recipient="MA-CNA", received_at=NOW, log_size=3, key=key)
    roots: set[tuple[str, bytes, int, bytes]] = set()
    for i, receipt in enumerate(receipts):
        _verify(directory, receipt.to_bytes(), i, verified_roots=roots)
    assert len(roots) == 1


def test_tampered_batch_receipts_are_refused(parties: tuple[Directory, SigningKeyPair]) -> None:
    directory, key = parties
    receipts = issue_receipts(_fields(4), recipient="MA-CNA", received_at=NOW, log_size=3, key=key)
    good = receipts[1]
    assert good.batch is not None
    other = receipts[2].batch
    assert other is not None
    forged = [
        replace(good, msg_id="msg-0002"),  # another message's id in this receipt's place
        replace(good, batch=replace(good.batch, index=2)),  # the proof for another index
        replace(good, batch=replace(good.batch, path=other.path)),
        replace(good, batch=replace(good.batch, size=5)),
        replace(good, batch=replace(good.batch, root=bytes(32))),
        replace(good, signature=bytes(64)),
    ]
    for receipt in forged:
        with pytest.raises(BadSignature):
            verify_receipt(
                receipt,
                directory=directory,
                expected_msg_id=receipt.msg_id,
                expected_sender="ES-CNA",
                expected_recipient="MA-CNA",
                expected_envelope_sha256=receipt.envelope_sha256,
                expected_evidence_sha256=receipt.evidence_sha256,
            )
    # A cached root does not vouch for a receipt outside the tree.
    roots: set[tuple[str, bytes, int, bytes]] = set()
    _verify(directory, good.to_bytes(), 1, verified_roots=roots)
    with pytest.raises(BadSignature):
        verify_receipt(
            forged[0],
            directory=directory,
            expected_msg_id="msg-0002",
            expected_sender="ES-CNA",
            expected_recipient="MA-CNA",
            expected_envelope_sha256=good.envelope_sha256,
            expected_evidence_sha256=good.evidence_sha256,
            verified_roots=roots,
        )


@pytest.mark.parametrize(
    "batch",
    [
        "x",
        {"index": 0, "size": 2, "path": []},
        {"index": 2, "size": 2, "path": [], "root": b64e(bytes(32))},
        {"index": True, "size": 2, "path": [], "root": b64e(bytes(32))},
        {"index": 0, "size": 2, "path": ["AA=="], "root": b64e(bytes(32))},
        {"index": 0, "size": 2, "path": [], "root": b64e(bytes(31))},
        {"index": 0, "size": 2, "path": [b64e(bytes(32))] * 65, "root": b64e(bytes(32))},
    ],
)
def test_malformed_batches_are_refused(
    parties: tuple[Directory, SigningKeyPair], batch: object
) -> None:
    _, key = parties
    (receipt,) = issue_receipts(
        _fields(1), recipient="MA-CNA", received_at=NOW, log_size=3, key=key
    )
    doc = {**receipt.to_json(), "batch": batch}
    with pytest.raises(Malformed):
        parse_receipt(json.dumps(doc).encode())


def test_a_receipt_for_other_content_is_refused(
    parties: tuple[Directory, SigningKeyPair],
) -> None:
    """Receipt v2 names the evidence document the receiver decrypted: the same envelope
    hash with another document's hash is not a receipt for what was sealed."""
    directory, key = parties
    (receipt,) = issue_receipts(
        _fields(1), recipient="MA-CNA", received_at=NOW, log_size=3, key=key
    )
    _verify(directory, receipt.to_bytes(), 0)
    other = issue_receipts(
        [(*_fields(1)[0][:3], "f" * 64)], recipient="MA-CNA", received_at=NOW, log_size=3, key=key
    )[0]
    with pytest.raises(BadSignature):
        _verify(directory, other.to_bytes(), 0)


def test_a_v1_receipt_is_refused_as_unsupported(
    parties: tuple[Directory, SigningKeyPair],
) -> None:
    """A v1 receipt (no evidence hash, signed under exchange/receipt/v1) is never read
    as a v2 one: unsupported_version, 400."""
    _, key = parties
    (receipt,) = issue_receipts(
        _fields(1), recipient="MA-CNA", received_at=NOW, log_size=3, key=key
    )
    body = {k: v for k, v in receipt.body().items() if k != "evidence_sha256"} | {"v": 1}
    v1 = {"receipt": body, "signature": b64e(key.sign(canonical_json(
        {"ctx": "exchange/receipt/v1", "receipt": body})))}  # fmt: skip
    with pytest.raises(UnsupportedVersion) as caught:
        parse_receipt(canonical_json(v1))
    assert STATUS[caught.value.code] == 400
    for version in (True, "2", 2.5):
        with pytest.raises(Malformed):
            parse_receipt(canonical_json({**v1, "receipt": {**receipt.body(), "v": version}}))


SENT = NOW - timedelta(hours=1)  # we sealed it an hour ago; its answer reaches us NOW


@pytest.mark.parametrize(
    ("at", "ok"),
    [(NOW, True), (NOW + MAX_SKEW, True), (SENT, True), (SENT - MAX_SKEW, True),
     # an answer lost on its way back, asked for again: the first receipt's time
     (NOW - timedelta(minutes=30), True),
     (NOW + MAX_SKEW + timedelta(seconds=1), False),
     (SENT - MAX_SKEW - timedelta(seconds=1), False),
     (NOW - timedelta(days=30), False), (NOW + timedelta(days=1), False)],
)  # fmt: skip
def test_a_received_at_is_held_to_the_senders_clock(at: datetime, ok: bool) -> None:
    if ok:
        check_signed_time(at, sent_at=SENT, now=NOW, what="received_at")
        return
    with pytest.raises(BadTime):
        check_signed_time(at, sent_at=SENT, now=NOW, what="received_at")


def test_a_v3_receipt_signs_the_receivers_log_size(
    parties: tuple[Directory, SigningKeyPair],
) -> None:
    directory, key = parties
    (receipt,) = issue_receipts(
        _fields(1), recipient="MA-CNA", received_at=NOW, log_size=4321, key=key
    )
    body = receipt.body()
    assert body["v"] == 3 and body["log_size"] == 4321
    assert parse_receipt(receipt.to_bytes()).log_size == 4321
    _verify(directory, receipt.to_bytes(), 0)
    doc = receipt.to_json()
    altered = {**doc, "receipt": {**body, "log_size": 99999}}
    with pytest.raises(BadSignature):
        _verify(directory, canonical_json(altered), 0)
    for bad in ({k: v for k, v in body.items() if k != "log_size"}, {**body, "log_size": -1},
                {**body, "log_size": True}, {**body, "v": 2}):  # fmt: skip
        with pytest.raises(Malformed):
            parse_receipt(canonical_json({**doc, "receipt": bad}))
    # a v2 receipt (kept before v3) still parses and verifies, with no log size
    v2 = replace(receipt, log_size=None)
    v2 = replace(v2, signature=key.sign(canonical_json({"ctx": "exchange/receipt/v2",
                                                        "receipt": v2.body()})))  # fmt: skip
    assert parse_receipt(v2.to_bytes()).log_size is None
    _verify(directory, v2.to_bytes(), 0)
