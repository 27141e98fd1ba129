"""The envelope format: every property of docs/PROTOCOL.md, checked directly."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exchange.core.canonical import b64d, b64e, canonical_json
from exchange.core.directory import Directory
from exchange.core.envelope import Header, open_, seal, verify_evidence
from exchange.core.errors import (
    BadSignature,
    ExchangeError,
    ExpiredKey,
    Malformed,
    TooLarge,
    UnknownSender,
    UnsupportedVersion,
    WrongRecipient,
)
from exchange.core.keys import KeyRing, seal_to

from .authority_factory import make_authority

NOW = datetime(2026, 11, 1, 12, tzinfo=UTC)
CONTENT = {"kind": "information_request", "body": "Who owns the vessel?", "n": 1}


class Party:
    def __init__(self, authority_id: str) -> None:
        self.authority, self.sk, self.ek = make_authority(authority_id, now=NOW - timedelta(days=1))
        self.keys = KeyRing((self.sk,), (self.ek,))
        self.id = authority_id


@pytest.fixture(scope="module")
def parties() -> dict[str, Party]:
    return {a: Party(a) for a in ("ES-CNA", "MA-CNA", "SN-CNA")}


@pytest.fixture(scope="module")
def directory(parties: dict[str, Party]) -> Directory:
    return Directory(
        1,
        NOW - timedelta(days=1),
        NOW + timedelta(days=30),
        tuple(p.authority for p in parties.values()),
    )


def _seal(
    parties: dict[str, Party],
    sender: str = "ES-CNA",
    recipient: str = "MA-CNA",
    content: dict[str, Any] | None = None,
    msg_id: str = "msg-0001",
) -> bytes:
    return seal(
        content or CONTENT,
        log_size=7,
        msg_type="request",
        msg_id=msg_id,
        sender_id=sender,
        sender_key=parties[sender].sk,
        recipient=parties[recipient].authority,
        now=NOW,
    ).data


def _open(
    data: bytes,
    parties: dict[str, Party],
    directory: Directory,
    me: str = "MA-CNA",
    now: datetime = NOW,
) -> Any:
    return open_(data, directory=directory, me=me, keys=parties[me].keys, now=now)


def _edit(data: bytes, change: Any) -> bytes:
    obj = json.loads(data)
    change(obj)
    return canonical_json(obj)


def test_round_trip_and_header_binding(parties: dict[str, Party], directory: Directory) -> None:
    data = _seal(parties)
    opened = _open(data, parties, directory)
    assert opened.content == CONTENT
    h = opened.header
    assert (h.sender, h.recipient, h.msg_id, h.created_at) == ("ES-CNA", "MA-CNA", "msg-0001", NOW)
    assert h.recipient_key_id == parties["MA-CNA"].ek.public.key_id
    assert b"vessel" not in data  # the content travels encrypted


def test_envelope_and_inner_document_are_canonical(
    parties: dict[str, Party], directory: Directory
) -> None:
    """The spliced encoding in ``seal`` gives exactly the canonical bytes (RFC 8785)."""
    content = {**CONTENT, "body": 'Grüße, مرحبا \u2028 "quoted" \\ ' * 40}
    data = _seal(parties, content=content)
    assert canonical_json(json.loads(data)) == data
    ciphertext = base64.b64decode(json.loads(data)["ciphertext"])
    inner = parties["MA-CNA"].ek.open_sealed(ciphertext)
    document = json.loads(inner)
    assert canonical_json(document) == inner and document["content"] == content
    opened = _open(data, parties, directory)
    assert opened.content_json == canonical_json(content)
    # the evidence document the receipt names is the very inner document sealed
    assert opened.evidence_json == inner


def test_only_the_recipient_can_read(parties: dict[str, Party], directory: Directory) -> None:
    data = _seal(parties)
    with pytest.raises(WrongRecipient):
        _open(data, parties, directory, me="SN-CNA")
    # Even claiming to be the recipient, another authority's keys cannot open it.
    ciphertext = b64d(json.loads(data)["ciphertext"])
    with pytest.raises(ExchangeError):
        parties["SN-CNA"].ek.open_sealed(ciphertext)


def test_third_party_can_verify_evidence(parties: dict[str, Party], directory: Directory) -> None:
    opened = _open(_seal(parties), parties, directory)
    key = parties["ES-CNA"].sk.public
    verify_evidence(opened.header, opened.content, opened.evidence_signature, key)
    with pytest.raises(BadSignature):
        verify_evidence(opened.header, {**opened.content, "n": 2}, opened.evidence_signature, key)


def test_recipient_cannot_forward_as_if_addressed_to_another(
    parties: dict[str, Party], directory: Directory
) -> None:
    """MA decrypts ES's request and wraps ES's signed inner message for SN: SN refuses."""
    data = _seal(parties)
    obj = json.loads(data)
    inner = parties["MA-CNA"].ek.open_sealed(b64d(obj["ciphertext"]))
    header = {
        **obj["header"],
        "recipient": "SN-CNA",
        "recipient_key_id": parties["SN-CNA"].ek.public.key_id,
    }
    # MA cannot produce ES's outer signature: with the original one it fails,
    ciphertext = seal_to(parties["SN-CNA"].ek.public.public, inner)
    forged = canonical_json({**obj, "header": header, "ciphertext": b64e(ciphertext)})
    with pytest.raises(BadSignature):
        _open(forged, parties, directory, me="SN-CNA")
    # and re-signing as itself (sender MA) leaves ES's inner header, which no longer matches.
    resent = seal(
        {},
        log_size=7,
        msg_type="request",
        msg_id="msg-0002",
        sender_id="MA-CNA",
        sender_key=parties["MA-CNA"].sk,
        recipient=parties["SN-CNA"].authority,
        now=NOW,
    ).data
    r = json.loads(resent)
    from exchange.core.envelope import _outer_signing_input

    ciphertext = seal_to(parties["SN-CNA"].ek.public.public, inner)
    sig = parties["MA-CNA"].sk.sign(_outer_signing_input(r["header"], ciphertext))
    rewrapped = canonical_json({**r, "ciphertext": b64e(ciphertext), "signature": b64e(sig)})
    with pytest.raises(BadSignature):
        _open(rewrapped, parties, directory, me="SN-CNA")


def _flip_last(data: bytes) -> bytes:
    """The last byte changed, always (setting it to 0 changed nothing 1 time in 256)."""
    return data[:-1] + bytes([data[-1] ^ 1])


@pytest.mark.parametrize(
    ("change", "error"),
    [
        (
            lambda o: o["header"].__setitem__("created_at", "2026-11-01T11:00:00.000000Z"),
            BadSignature,
        ),
        (lambda o: o["header"].__setitem__("msg_id", "msg-9999"), BadSignature),
        (
            lambda o: o.__setitem__("ciphertext", b64e(_flip_last(b64d(o["ciphertext"])))),
            BadSignature,
        ),
        (lambda o: o.__setitem__("signature", b64e(bytes(64))), BadSignature),
        # another sender named with the real signer's key id: that key is not the new sender's
        (lambda o: o["header"].__setitem__("sender", "SN-CNA"), UnknownSender),
        (lambda o: o["header"].__setitem__("sender", "FR-CNA"), UnknownSender),
        (
            lambda o: o["header"].__setitem__("sender_key_id", "ed25519:00000000deadbeef"),
            UnknownSender,
        ),
        (lambda o: o["header"].__setitem__("recipient", "SN-CNA"), WrongRecipient),
        (lambda o: o["header"].__setitem__("v", 3), Malformed),  # v2 is current (issue 15)
        (lambda o: o["header"].__setitem__("log_size", 10**6), BadSignature),
        (lambda o: o["header"].__setitem__("log_size", -1), Malformed),
        (lambda o: o["header"].__setitem__("log_size", True), Malformed),
        (lambda o: o["header"].pop("log_size"), Malformed),
        (lambda o: o["header"].__setitem__("v", 1), Malformed),  # v1 has no log_size
        (lambda o: o.__setitem__("v", 1), Malformed),  # the envelope's v is its header's
        # a v1 envelope (no log size) from a peer on the old version: refused, not misread
        (
            lambda o: (
                o.__setitem__("v", 1),
                o["header"].__setitem__("v", 1),
                o["header"].pop("log_size"),
            ),
            UnsupportedVersion,
        ),
        (lambda o: o["header"].__setitem__("type", "gossip"), Malformed),
        (lambda o: o["header"].pop("created_at"), Malformed),
        (lambda o: o.__setitem__("extra", 1), Malformed),
        (lambda o: o.__setitem__("ciphertext", "***"), Malformed),
    ],
)
def test_forged_or_altered_envelopes_are_refused(
    parties: dict[str, Party], directory: Directory, change: Any, error: type[Exception]
) -> None:
    with pytest.raises(error):
        _open(_edit(_seal(parties), change), parties, directory)


def test_impersonating_another_sender_with_its_key_id_fails_the_signature(
    parties: dict[str, Party], directory: Directory
) -> None:
    sn_key = parties["SN-CNA"].sk.public.key_id

    def impersonate(o: dict[str, Any]) -> None:
        o["header"]["sender"], o["header"]["sender_key_id"] = "SN-CNA", sn_key

    with pytest.raises(BadSignature):
        _open(_edit(_seal(parties), impersonate), parties, directory)


def test_expired_sender_key_and_future_envelopes(
    parties: dict[str, Party], directory: Directory
) -> None:
    data = _seal(parties)
    with pytest.raises(ExpiredKey):
        _open(data, parties, directory, now=NOW + timedelta(days=400))
    early = NOW - timedelta(minutes=10)
    with pytest.raises(Malformed):
        _open(data, parties, directory, now=early)


def test_size_and_garbage(parties: dict[str, Party], directory: Directory) -> None:
    with pytest.raises(TooLarge):
        open_(
            _seal(parties),
            directory=directory,
            me="MA-CNA",
            keys=parties["MA-CNA"].keys,
            now=NOW,
            max_bytes=100,
        )
    with pytest.raises(TooLarge):
        _seal(parties, content={"body": "x" * (3 * 1024 * 1024)})
    for garbage in (b"", b"[]", b"{", b"\xff\xfe", b'{"v":1}', b"[" * 5000 + b"]" * 5000):
        with pytest.raises(Malformed):
            _open(garbage, parties, directory)


def test_header_parser_is_strict() -> None:
    with pytest.raises(Malformed):
        Header.from_json({"v": 1})
    with pytest.raises(Malformed):
        Header.from_json("header")


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2048) | st.text(max_size=512).map(str.encode))
def test_open_never_fails_unexpectedly(
    parties: dict[str, Party], directory: Directory, data: bytes
) -> None:
    with pytest.raises(ExchangeError):
        _open(data, parties, directory)


@settings(max_examples=150, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=20),
        lambda children: (
            st.lists(children, max_size=4)
            | st.dictionaries(st.text(max_size=8), children, max_size=4)
        ),
        max_leaves=20,
    )
)
def test_random_json_shapes_are_refused_cleanly(
    parties: dict[str, Party], directory: Directory, value: Any
) -> None:
    for doc in (
        value,
        {"v": 1, "header": value, "ciphertext": "AA==", "signature": b64e(bytes(64))},
    ):
        with pytest.raises(ExchangeError):
            _open(json.dumps(doc).encode(), parties, directory)
