"""Evidence bundles checked offline (core/evidence_bundle.py): what they prove, and
that any single-byte change is refused."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from exchange.core.canonical import sha256_hex
from exchange.core.directory import Directory, sign_directory
from exchange.core.envelope import open_, seal
from exchange.core.errors import ExchangeError
from exchange.core.evidence_bundle import Item, build_bundle, verify_bundle
from exchange.core.keys import KeyRing, SigningKeyPair
from exchange.core.receipt import issue_receipt

from .authority_factory import make_authority

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def bundle() -> bytes:
    es, es_sk, _ = make_authority("ES-CNA", now=NOW - timedelta(days=1))
    ma, ma_sk, ma_ek = make_authority("MA-CNA", now=NOW - timedelta(days=1))
    operator = SigningKeyPair.generate(NOW - timedelta(days=2), timedelta(days=3650))
    directory = Directory(1, NOW - timedelta(days=1), NOW + timedelta(days=30), (es, ma))
    document = sign_directory(directory, operator)
    sealed = seal({"body": "Who owns the boat?"}, msg_type="request", msg_id="msg-00000001",
                  sender_id="ES-CNA", sender_key=es_sk, recipient=ma, now=NOW,
                  log_size=7)  # fmt: skip
    opened = open_(sealed.data, directory=directory, me="MA-CNA",
                   keys=KeyRing((ma_sk,), (ma_ek,)), now=NOW)  # fmt: skip
    receipt = issue_receipt(
        msg_id="msg-00000001", sender="ES-CNA", recipient="MA-CNA",
        envelope_sha256=opened.envelope_sha256, evidence_sha256=sha256_hex(opened.evidence_json),
        received_at=NOW + timedelta(seconds=2), log_size=3, key=ma_sk,
    )  # fmt: skip
    item = Item(sealed.evidence_json, receipt.to_bytes())
    return build_bundle(
        operator_keys=[operator.public.public], directories=[document], items=[item]
    )


def test_a_bundle_says_who_sent_what_to_whom_and_who_acknowledged(bundle: bytes) -> None:
    lines = verify_bundle(bundle)
    text = "\n".join(lines)
    assert "ES-CNA sent request msg-00000001 to MA-CNA, signed at 2026-11-23T10:00" in text
    assert "MA-CNA acknowledged receiving exactly this document at 2026-11-23T10:00:02" in text


def test_any_single_byte_change_is_refused(bundle: bytes) -> None:
    """Every position, flipped one bit; and at each a random other byte."""
    rng = random.Random(14)  # noqa: S311 (test data)
    for position in range(len(bundle)):
        for value in (
            bundle[position] ^ 0x01,
            rng.choice([b for b in range(256) if b != bundle[position]]),
        ):
            changed = bundle[:position] + bytes([value]) + bundle[position + 1 :]
            with pytest.raises(ExchangeError):
                verify_bundle(changed)
