"""Webhook signatures name their purpose (ctx ``exchange/webhook/v1``): a hostile
webhook receiver, or anyone holding another signature of the node, cannot turn one
into the other."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from exchange.core.canonical import b64d, b64e, canonical_json, sha256_hex
from exchange.core.directory import Directory
from exchange.core.errors import BadSignature, ExchangeError
from exchange.core.keys import verify_signature
from exchange.core.peer_auth import check_header, sign_call, verify_body
from exchange.core.receipt import issue_receipt
from exchange.core.webhook import CTX, signature_header, signing_input, verify_webhook

from ..core.authority_factory import make_authority

NOW = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)
BODY = canonical_json({"event": "deadline_escalated", "request_id": "r-1", "urgency": "urgent"})


def test_a_webhook_signature_covers_its_ctx_and_the_body_hash() -> None:
    es, key, _ = make_authority("ES-CNA", now=NOW)
    header = signature_header(key, BODY)
    verify_webhook(header, BODY, es)
    assert json.loads(signing_input(BODY))["ctx"] == CTX == "exchange/webhook/v1"
    with pytest.raises(BadSignature):  # another body
        verify_webhook(header, BODY + b" ", es)


def test_a_signature_over_the_bare_body_is_not_a_webhook_signature() -> None:
    """The old scheme (Ed25519 over the body bytes, no ctx) no longer verifies."""
    es, key, _ = make_authority("ES-CNA", now=NOW)
    old = f"ed25519 key_id={key.public.key_id} sig={b64e(key.sign(BODY))}"
    with pytest.raises(BadSignature):
        verify_webhook(old, BODY, es)


def test_another_signed_object_of_the_node_is_not_a_webhook() -> None:
    """A receipt the node signed, presented as a webhook body with its signature (which
    the bare-body scheme accepted), is refused."""
    es, key, _ = make_authority("ES-CNA", now=NOW)
    receipt = issue_receipt(
        msg_id="msg-00000001",
        sender="MA-CNA",
        recipient="ES-CNA",
        envelope_sha256="00" * 32,
        evidence_sha256="11" * 32,
        received_at=NOW,
        log_size=3,
        key=key,
    )
    signed = canonical_json({"ctx": "exchange/receipt/v2", "receipt": receipt.body()})
    verify_signature(key.public.public, signed, receipt.signature)  # a bare-body webhook
    forged = f"ed25519 key_id={key.public.key_id} sig={b64e(receipt.signature)}"
    with pytest.raises(BadSignature):
        verify_webhook(forged, signed, es)


def test_a_webhook_signature_is_not_valid_as_a_peer_call() -> None:
    """A hostile webhook receiver replays the signature it got as X-Exchange-Auth."""
    es, key, _ = make_authority("ES-CNA", now=NOW)
    ma, _, _ = make_authority("MA-CNA", now=NOW)
    directory = Directory(serial=1, issued_at=NOW, expires_at=NOW, authorities=(es, ma))
    header = signature_header(key, BODY)
    sig = header.split("sig=", 1)[1]
    genuine = sign_call(
        method="POST", path="/v1/envelopes", sender="ES-CNA", recipient="MA-CNA",
        body=BODY, key=key, now=NOW,
    )  # fmt: skip
    replayed = genuine.rsplit("sig=", 1)[0] + "sig=" + sig
    assert b64d(sig) != b64d(genuine.rsplit("sig=", 1)[1])
    with pytest.raises(ExchangeError) as refused:
        auth = check_header(
            replayed, method="POST", path="/v1/envelopes", me="MA-CNA",
            directory=directory, now=NOW,
        )  # fmt: skip
        verify_body(auth, sha256_hex(BODY))
    assert refused.value.code == "bad_signature"
    # and the genuine call's signature is no webhook signature either
    as_webhook = f"ed25519 key_id={key.public.key_id} sig={genuine.rsplit('sig=', 1)[1]}"
    with pytest.raises(BadSignature):
        verify_webhook(as_webhook, BODY, es)
