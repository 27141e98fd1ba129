"""How many times one request's core path runs the canonical encoder: each structure is
encoded once and its bytes are spliced into what holds it (the header into both
signing inputs and the envelope, a receipt's body into its signing input and its
bytes, on both sides), so only what is new is encoded.

Counted where every encoding goes through: the encoder built once and the reference
encoder (``rfc8785``) behind it. This path takes 8; before the header and the receipt
body were reused it took 30 (measured: 14 of whole values, 16 of single keys): sealing
3 + 10, opening 5 + 6, the receipt 2, checking it 3, the audit entry 1."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from exchange.core import canonical
from exchange.core.audit_entry import encode_entry
from exchange.core.canonical import loads_canonical, sha256_hex
from exchange.core.directory import Directory
from exchange.core.envelope import open_, seal
from exchange.core.keys import KeyRing
from exchange.core.receipt import issue_receipts, parse_receipt, verify_receipt

from .authority_factory import make_authority

NOW = datetime(2026, 11, 1, 12, tzinfo=UTC)


class Encodings:
    """Counts the canonical encoder's runs, from any thread (the nodes' database
    threads encode audit entries), calling through to the real encoders."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        self._lock = threading.Lock()
        for name in ("_dumps", "_reference"):
            monkeypatch.setattr(canonical, name, self._counted(getattr(canonical, name)))

    def _counted(self, encode: Callable[[Any], Any]) -> Callable[[Any], Any]:
        def counted(value: Any) -> Any:
            with self._lock:
                self.count += 1
            return encode(value)

        return counted

    def take(self) -> int:
        with self._lock:
            count, self.count = self.count, 0
        return count


@pytest.fixture
def encodings(monkeypatch: pytest.MonkeyPatch) -> Iterator[Encodings]:
    yield Encodings(monkeypatch)


def test_one_request_core_path(encodings: Encodings) -> None:
    es, es_sk, _ = make_authority("ES-CNA", now=NOW - timedelta(days=1))
    ma, ma_sk, ma_ek = make_authority("MA-CNA", now=NOW - timedelta(days=1))
    directory = Directory(1, NOW - timedelta(days=1), NOW + timedelta(days=30), (es, ma))
    content = {"kind": "information_request", "subject": "Boat", "body": "Who owns it?"}
    encodings.take()

    sealed = seal(content, msg_type="request", msg_id="msg-00000001", sender_id="ES-CNA",
                  sender_key=es_sk, recipient=ma, now=NOW, log_size=3)  # fmt: skip
    assert encodings.take() == 2  # the header and the content

    ring = KeyRing((ma_sk,), (ma_ek,))
    opened = open_(sealed.data, directory=directory, me="MA-CNA", keys=ring, now=NOW)
    assert encodings.take() == 2  # the envelope's canonical check, the content's

    fields = [("msg-00000001", "ES-CNA", opened.envelope_sha256, sha256_hex(opened.evidence_json))]
    (receipt,) = issue_receipts(fields, recipient="MA-CNA", received_at=NOW, key=ma_sk, log_size=4)
    answer = b'{"results":[{"receipt":' + receipt.to_bytes() + b"}]}"
    assert encodings.take() == 1  # the receipt's body, signed and sent

    payload = loads_canonical(answer, max_depth=8, what="transaction answer")
    got = parse_receipt(payload["results"][0]["receipt"])
    verify_receipt(got, directory=directory, expected_msg_id="msg-00000001",
                   expected_sender="ES-CNA", expected_recipient="MA-CNA",
                   expected_envelope_sha256=opened.envelope_sha256,
                   expected_evidence_sha256=sha256_hex(sealed.evidence_json))  # fmt: skip
    assert got.to_bytes() == receipt.to_bytes()
    # the answer's canonical check, the body checked and stored; the second to_bytes
    # above, of the receiver's own receipt, reused its body
    assert encodings.take() == 2

    encode_entry(at=NOW, authority="ES-CNA", action="request_delivered", actor="system",
                 fields={"msg_id": "msg-00000001"})  # fmt: skip
    assert encodings.take() == 1
