"""What envelopes and receipts splice from bytes already encoded (a header, a content, a
receipt's body) is byte for byte what encoding each whole document gives: the signing
inputs (checked by verifying the signatures over the whole encodings), the envelope,
the evidence document, the receipt and the witness's claim."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exchange.core.canonical import b64d, b64e, canonical_json, sha256_hex
from exchange.core.directory import Directory
from exchange.core.envelope import (
    MESSAGE_TYPES,
    _header_bytes,
    open_,
    parse_header,
    seal,
)
from exchange.core.errors import BadSignature
from exchange.core.keys import KeyRing, seal_to, verify_signature
from exchange.core.receipt import issue_receipts, parse_receipt, verify_receipt
from exchange.service.witness import claim_of

from .authority_factory import make_authority

NOW = datetime(2026, 11, 1, 12, tzinfo=UTC)
OUTER_CTX = "exchange/envelope/outer/v1"
INNER_CTX = "exchange/envelope/content/v1"
RECEIPT_CTX = "exchange/receipt/v2"


class Party:
    def __init__(self, authority_id: str) -> None:
        self.authority, self.sk, self.ek = make_authority(authority_id, now=NOW - timedelta(days=1))
        self.keys = KeyRing((self.sk,), (self.ek,))


@pytest.fixture(scope="module")
def parties() -> dict[str, Party]:
    return {a: Party(a) for a in ("ES-CNA", "MA-CNA")}


@pytest.fixture(scope="module")
def directory(parties: dict[str, Party]) -> Directory:
    authorities = tuple(p.authority for p in parties.values())
    return Directory(1, NOW - timedelta(days=1), NOW + timedelta(days=30), authorities)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53) + 1, 2**53 - 1)
    | st.text(max_size=20)
    # the reference encoder's path (a float spelt as an integer beyond 2**53 - 1 parses
    # back as an integer no canonical form holds: a sender's own refusal, elsewhere)
    | st.floats(min_value=-(2.0**52), max_value=2.0**52),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=12,
)
contents = st.dictionaries(st.text(max_size=8), json_values, max_size=5)
msg_ids = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9._-]{7,20}\Z")


@settings(max_examples=40, derandomize=True, deadline=None)
@given(contents, msg_ids, st.integers(0, 2**53 - 1), st.sampled_from(MESSAGE_TYPES))
def test_sealed_and_opened_bytes_are_the_whole_encodings(
    parties: dict[str, Party],
    directory: Directory,
    content: dict[str, Any],
    msg_id: str,
    log_size: int,
    msg_type: str,
) -> None:
    sender, recipient = parties["ES-CNA"], parties["MA-CNA"]
    sealed = seal(content, msg_type=msg_type, msg_id=msg_id, sender_id="ES-CNA",
                  sender_key=sender.sk, recipient=recipient.authority, now=NOW,
                  log_size=log_size)  # fmt: skip
    outer = json.loads(sealed.data)
    assert sealed.data == canonical_json(outer)
    header, ciphertext = outer["header"], b64d(outer["ciphertext"])
    whole_outer = {"ctx": OUTER_CTX, "header": header, "ciphertext_sha256": sha256_hex(ciphertext)}
    verify_signature(sender.sk.public.public, canonical_json(whole_outer), b64d(outer["signature"]))

    document = json.loads(recipient.ek.open_sealed(ciphertext))
    assert sealed.evidence_json == canonical_json(document)
    assert sealed.content_json == canonical_json(content) == canonical_json(document["content"])
    whole_inner = {"ctx": INNER_CTX, "header": header, "content": content}
    verify_signature(
        sender.sk.public.public, canonical_json(whole_inner), b64d(document["signature"])
    )

    opened = open_(sealed.data, directory=directory, me="MA-CNA", keys=recipient.keys, now=NOW)
    assert opened.header_json == canonical_json(header) == canonical_json(opened.header.to_json())
    assert opened.evidence_json == sealed.evidence_json
    assert opened.content_json == sealed.content_json
    log_size_claimed, claim = claim_of(opened) or (None, "")
    assert log_size_claimed == log_size
    whole_claim = {"header": opened.header.to_json(), "envelope_sha256": opened.envelope_sha256}
    assert claim == canonical_json(whole_claim).decode()


header_text = st.text(min_size=1, max_size=64)  # quotes, backslashes, controls, non-ASCII


@settings(max_examples=100, derandomize=True, deadline=None)
@given(
    st.fixed_dictionaries(
        {
            "v": st.just(2),
            "type": st.sampled_from(MESSAGE_TYPES),
            "msg_id": msg_ids,
            "sender": header_text,
            "sender_key_id": header_text,
            "recipient": header_text,
            "recipient_key_id": header_text,
            "created_at": st.datetimes(
                min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31)
            ).map(lambda d: d.isoformat(timespec="microseconds") + "Z"),
            "log_size": st.integers(0, 2**53 - 1),
        }
    ),
    st.binary(max_size=200),
    st.binary(min_size=64, max_size=64),
)
def test_the_header_cut_from_a_canonical_envelope_is_its_encoding(
    header: dict[str, Any], ciphertext: bytes, signature: bytes
) -> None:
    data = canonical_json(
        {"v": 2, "header": header, "ciphertext": b64e(ciphertext), "signature": b64e(signature)}
    )
    parsed, parsed_ciphertext, parsed_signature = parse_header(data)
    cut = _header_bytes(data, parsed_ciphertext, parsed_signature)
    assert cut == canonical_json(header) == canonical_json(parsed.to_json())


def _envelope(
    parties: dict[str, Party], outer_header: dict[str, Any], inner_header: dict[str, Any]
) -> bytes:
    """An envelope as a sender may build it by hand: its inner header equal (``==``) to
    the outer one but spelt otherwise, each signed as it is spelt."""
    sender, recipient = parties["ES-CNA"], parties["MA-CNA"]
    content = {"kind": "information_request", "body": "Who owns the vessel?"}
    inner_signed = {"ctx": INNER_CTX, "header": inner_header, "content": content}
    evidence = sender.sk.sign(canonical_json(inner_signed))
    inner = {"header": inner_header, "content": content, "signature": b64e(evidence)}
    ciphertext = seal_to(recipient.ek.public.public, canonical_json(inner))
    signed = {"ctx": OUTER_CTX, "header": outer_header, "ciphertext_sha256": sha256_hex(ciphertext)}
    signature = sender.sk.sign(canonical_json(signed))
    return canonical_json(
        {
            "v": 2,
            "header": outer_header,
            "ciphertext": b64e(ciphertext),
            "signature": b64e(signature),
        }
    )


def test_an_inner_header_spelt_otherwise_is_checked_as_spelt(
    parties: dict[str, Party], directory: Directory
) -> None:
    """``true`` equals ``1`` in Python: such an inner header passes the comparison with
    the outer one, and its signature and the evidence document are then its own
    spelling, as before the outer header's bytes were reused for the inner one."""
    sealed = seal({}, msg_type="request", msg_id="msg-00000001", sender_id="ES-CNA",
                  sender_key=parties["ES-CNA"].sk, recipient=parties["MA-CNA"].authority,
                  now=NOW, log_size=1)  # fmt: skip
    outer_header = json.loads(sealed.data)["header"]
    inner_header = {**outer_header, "log_size": True}
    opened = open_(_envelope(parties, outer_header, inner_header), directory=directory,
                   me="MA-CNA", keys=parties["MA-CNA"].keys, now=NOW)  # fmt: skip
    assert b'"log_size":1' in opened.header_json
    assert json.loads(opened.evidence_json)["header"]["log_size"] is True

    # signed over the outer spelling, sent with the other: the signature does not hold
    sender, recipient = parties["ES-CNA"], parties["MA-CNA"]
    content: dict[str, Any] = {}
    evidence = sender.sk.sign(
        canonical_json({"ctx": INNER_CTX, "header": outer_header, "content": content})
    )
    inner = {"header": inner_header, "content": content, "signature": b64e(evidence)}
    ciphertext = seal_to(recipient.ek.public.public, canonical_json(inner))
    signed = {"ctx": OUTER_CTX, "header": outer_header, "ciphertext_sha256": sha256_hex(ciphertext)}
    data = canonical_json({"v": 2, "header": outer_header, "ciphertext": b64e(ciphertext),
                           "signature": b64e(sender.sk.sign(canonical_json(signed)))})  # fmt: skip
    with pytest.raises(BadSignature):
        open_(data, directory=directory, me="MA-CNA", keys=recipient.keys, now=NOW)


@pytest.mark.parametrize("count", [1, 2, 5])
def test_receipt_bytes_are_the_whole_encodings(
    parties: dict[str, Party], directory: Directory, count: int
) -> None:
    fields = [
        (f"msg-{n:08d}", "ES-CNA", sha256_hex(b"env%d" % n), sha256_hex(b"ev%d" % n))
        for n in range(count)
    ]
    key = parties["MA-CNA"].sk
    receipts = issue_receipts(fields, recipient="MA-CNA", received_at=NOW, key=key, log_size=9)
    roots: set[tuple[str, bytes, int, bytes]] = set()
    for receipt, (msg_id, sender, envelope_sha256, evidence_sha256) in zip(
        receipts, fields, strict=True
    ):
        assert receipt.body_json == canonical_json(receipt.body())
        data = receipt.to_bytes()
        assert data == canonical_json(receipt.to_json())
        if receipt.batch is None:
            whole = {"ctx": RECEIPT_CTX, "receipt": receipt.body()}
            verify_signature(key.public.public, canonical_json(whole), receipt.signature)
        for parsed in (parse_receipt(data), parse_receipt(json.loads(data))):
            assert parsed == receipt
            assert parsed.to_bytes() == data
            verify_receipt(parsed, directory=directory, expected_msg_id=msg_id,
                           expected_sender=sender, expected_recipient="MA-CNA",
                           expected_envelope_sha256=envelope_sha256,
                           expected_evidence_sha256=evidence_sha256,
                           verified_roots=roots)  # fmt: skip
