"""Mutation fuzzing of every parser that reads bytes from a peer or an operator:
envelopes, receipts, directories, signed notes, checkpoints, cosignatures and the
attachment manifest. Valid objects are flipped, cut, spliced and re-keyed; the
only acceptable outcomes are success on the unchanged bytes and a clean
``ExchangeError`` (a stable code) on anything else: never another exception."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exchange.core.directory import Directory, sign_directory, verify_directory
from exchange.core.envelope import open_, seal
from exchange.core.errors import ExchangeError
from exchange.core.evidence import parse_manifest
from exchange.core.keys import KeyRing, SigningKeyPair
from exchange.core.note import (
    cosign,
    parse_checkpoint,
    parse_note,
    parse_signature,
    verify_cosignature,
    verify_note,
)
from exchange.core.receipt import issue_receipt, parse_receipt, verify_receipt
from exchange.core.witness import log_verifier, origin_for, sign_checkpoint

from ..core.authority_factory import make_authority

NOW = datetime(2026, 11, 1, 12, tzinfo=UTC)
ES, ES_SK, ES_EK = make_authority("ES-CNA", now=NOW - timedelta(days=1))
MA, MA_SK, MA_EK = make_authority("MA-CNA", now=NOW - timedelta(days=1))
OPERATOR = SigningKeyPair.generate(NOW - timedelta(days=1), timedelta(days=365))
DIRECTORY = Directory(1, NOW - timedelta(hours=1), NOW + timedelta(days=30), (ES, MA))
DOCUMENT = sign_directory(DIRECTORY, OPERATOR)
CONTENT = {
    "kind": "information_request",
    "urgency": "urgent",
    "language": "en",
    "subject": "s",
    "body": "Who owns the vessel?",
    "deadline": None,
}
ENVELOPE = seal(
    CONTENT,
    log_size=7,
    msg_type="request",
    msg_id="msg-00001",
    sender_id="ES-CNA",
    sender_key=ES_SK,
    recipient=MA,
    now=NOW,
).data
RECEIPT = issue_receipt(
    msg_id="msg-00001",
    sender="ES-CNA",
    recipient="MA-CNA",
    envelope_sha256="0" * 64,
    evidence_sha256="1" * 64,
    received_at=NOW,
    log_size=3,
    key=MA_SK,
).to_bytes()
AUDIT_KEY = SigningKeyPair.generate(NOW - timedelta(days=1), timedelta(days=365))
NOTE = sign_checkpoint("ES-CNA", 7, b"\x01" * 32, AUDIT_KEY)
WITNESS_KEY = SigningKeyPair.generate(NOW - timedelta(days=1), timedelta(days=365))
FUZZ = settings(
    max_examples=150, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@st.composite
def mutated(draw: st.DrawFn, original: bytes) -> bytes:
    """Bit flips, truncation, insertion, deletion and splicing of valid bytes."""
    data = bytearray(original)
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        kind = draw(st.sampled_from(["flip", "cut", "insert", "delete", "splice"]))
        where = draw(st.integers(min_value=0, max_value=max(len(data) - 1, 0)))
        if kind == "flip" and data:
            data[where] ^= 1 << draw(st.integers(min_value=0, max_value=7))
        elif kind == "cut":
            del data[where:]
        elif kind == "insert":
            data[where:where] = draw(st.binary(min_size=1, max_size=8))
        elif kind == "delete":
            del data[where : where + draw(st.integers(min_value=1, max_value=16))]
        else:
            data[where:where] = original[: draw(st.integers(min_value=1, max_value=32))]
    return bytes(data)


def only_clean_errors(action: Any, data: bytes, original: bytes) -> None:
    try:
        action(data)
    except ExchangeError:
        assert data != original, "the unchanged object must be accepted"
        return
    # accepted: it must then be the original, or a mutation the format ignores
    # (e.g. JSON whitespace), which the signatures still cover


def open_envelope(data: bytes) -> None:
    open_(data, directory=DIRECTORY, me="MA-CNA", keys=KeyRing((MA_SK,), (MA_EK,)), now=NOW)


@FUZZ
@given(mutated(ENVELOPE))
def test_envelopes(data: bytes) -> None:
    only_clean_errors(open_envelope, data, ENVELOPE)


def check_receipt(data: bytes) -> None:
    receipt = parse_receipt(data)
    verify_receipt(
        receipt,
        directory=DIRECTORY,
        expected_msg_id="msg-00001",
        expected_sender="ES-CNA",
        expected_recipient="MA-CNA",
        expected_envelope_sha256="0" * 64,
        expected_evidence_sha256="1" * 64,
    )


@FUZZ
@given(mutated(RECEIPT))
def test_receipts(data: bytes) -> None:
    only_clean_errors(check_receipt, data, RECEIPT)


def check_directory(data: bytes) -> None:
    verify_directory(data, pinned_operator_keys=(OPERATOR.public.public,), now=NOW)


@FUZZ
@given(mutated(DOCUMENT))
def test_directories(data: bytes) -> None:
    only_clean_errors(check_directory, data, DOCUMENT)


def check_note(data: bytes) -> None:
    note = parse_note(data)
    verify_note(note, [log_verifier("ES-CNA", _vkey())])
    parse_checkpoint(note.text)


def _vkey() -> str:
    from exchange.core.note import format_vkey

    return format_vkey(origin_for("ES-CNA"), AUDIT_KEY.public.public)


@FUZZ
@given(mutated(NOTE.encode()))
def test_checkpoint_notes(data: bytes) -> None:
    only_clean_errors(check_note, data, NOTE.encode())


@FUZZ
@given(st.text(max_size=200))
def test_cosignature_lines(line: str) -> None:
    try:
        parse_signature(line)
    except ExchangeError:
        return


CHECKPOINT_TEXT = parse_note(NOTE).text
COSIGNATURE = cosign(CHECKPOINT_TEXT, "exchange/MA-CNA/witness", WITNESS_KEY, int(NOW.timestamp()))


def check_cosignature(data: bytes) -> None:
    line = data.decode("utf-8", errors="replace")
    verify_cosignature(CHECKPOINT_TEXT, line, "exchange/MA-CNA/witness", WITNESS_KEY.public.public)


@FUZZ
@given(mutated(COSIGNATURE.encode()))
def test_cosignatures(data: bytes) -> None:
    only_clean_errors(check_cosignature, data, COSIGNATURE.encode())


@FUZZ
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=70),
        lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=12), c, max_size=9),
        max_leaves=30,
    )
)
def test_attachment_manifests(value: object) -> None:
    try:
        parse_manifest(value, max_size=1000)
    except ExchangeError:
        return


def test_the_originals_are_accepted() -> None:
    # a guard on the fuzzer itself: the unchanged objects pass every check
    for action, original in (
        (open_envelope, ENVELOPE),
        (check_receipt, RECEIPT),
        (check_directory, DOCUMENT),
        (check_note, NOTE.encode()),
        (check_cosignature, COSIGNATURE.encode()),
    ):
        action(original)
