"""Signed notes, checkpoints and cosignatures against published C2SP / Go vectors.

Known answers: the PeterNeumann and EnochRoot keys and signatures of
golang.org/x/mod/sumdb/note ``note_test.go``; the checkpoint of
c2sp.org/tlog-checkpoint; type 0x04 vkeys and a cosignature/v1 timestamp
from github.com/transparency-dev/formats ``note/note_cosigv1_test.go``.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime, timedelta

import nacl.signing
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exchange.core.errors import BadSignature, ExchangeError, Malformed, TooLarge
from exchange.core.keys import SigningKeyPair
from exchange.core.note import (
    ALG_COSIGNATURE_V1,
    ALG_ED25519,
    Checkpoint,
    NoteSignature,
    Verifier,
    add_signatures,
    cosign,
    format_vkey,
    format_witness_vkey,
    note_key_id,
    parse_checkpoint,
    parse_note,
    parse_signature,
    parse_vkey,
    sign_note,
    verify_cosignature,
    verify_note,
)

PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
PETER_SIG = (
    "— PeterNeumann "
    "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)
ENOCH_SIG = (
    "— EnochRoot "
    "rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n"
)
PETER_NOTE = TEXT + "\n" + PETER_SIG

# c2sp.org/tlog-checkpoint example body.
SOFA = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"

NOW = datetime(2026, 11, 1, tzinfo=UTC)


def peter_key() -> nacl.signing.SigningKey:
    material = base64.b64decode(PETER_SKEY.split("+", 4)[4])
    assert material[0] == ALG_ED25519
    return nacl.signing.SigningKey(material[1:])


def new_pair() -> SigningKeyPair:
    return SigningKeyPair.generate(NOW, timedelta(days=30))


# --- the Go reference vectors ----------------------------------------------------------------


def test_vkey_and_signed_note_match_the_go_reference_byte_for_byte() -> None:
    key = peter_key()
    assert format_vkey("PeterNeumann", bytes(key.verify_key)) == PETER_VKEY
    assert sign_note(TEXT, "PeterNeumann", key) == PETER_NOTE
    verifier = parse_vkey(PETER_VKEY)
    assert verifier.name == "PeterNeumann"
    assert verifier.key_id == bytes.fromhex("c74f20a3")
    assert verifier.public_key == bytes(key.verify_key)
    assert verifier.alg == ALG_ED25519
    assert verifier.vkey == PETER_VKEY


def test_the_go_reference_note_opens() -> None:
    """note_test.go TestOpen."""
    peter, enoch = parse_vkey(PETER_VKEY), parse_vkey(ENOCH_VKEY)
    both = parse_note(TEXT + "\n" + PETER_SIG + ENOCH_SIG)
    assert both.text == TEXT
    assert [s.name for s in both.signatures] == ["PeterNeumann", "EnochRoot"]
    assert both.signatures[0].key_id == bytes.fromhex("c74f20a3")
    assert both.signatures[1].key_id == bytes.fromhex("af0cfe78")
    assert both.to_text() == TEXT + "\n" + PETER_SIG + ENOCH_SIG

    assert verify_note(both, [peter]) == ["PeterNeumann"]  # the unknown key is ignored
    assert verify_note(both, [peter, enoch]) == ["PeterNeumann", "EnochRoot"]
    with pytest.raises(BadSignature):
        verify_note(both, [])
    with pytest.raises(BadSignature):
        verify_note(both, [peter], required=["EnochRoot"])

    # An invalid signature by a known key rejects the whole note.
    bad = TEXT + "\n" + PETER_SIG[:60] + "ABCD" + PETER_SIG[60:]
    with pytest.raises(BadSignature):
        verify_note(parse_note(bad), [peter])

    # Repeated signatures are counted once; unknown bad signatures are ignored.
    enoch_abcd = ENOCH_SIG[:60] + "ABCD" + ENOCH_SIG[60:]
    repeated = parse_note(TEXT + "\n" + PETER_SIG + PETER_SIG + ENOCH_SIG + ENOCH_SIG + enoch_abcd)
    assert verify_note(repeated, [peter]) == ["PeterNeumann"]

    with pytest.raises(Malformed):
        parse_note(TEXT + "\n" + PETER_SIG * 101)
    assert len(parse_note(TEXT + "\n" + PETER_SIG * 100).signatures) == 100


def test_tampered_text_is_rejected() -> None:
    note = parse_note(PETER_NOTE.replace("cryptography", "cryptographY"))
    with pytest.raises(BadSignature):
        verify_note(note, [parse_vkey(PETER_VKEY)])


def test_vkey_manglings_are_rejected() -> None:
    """note_test.go TestNewVerifier: every proper substring and every changed byte fails."""
    raw = PETER_VKEY.encode()
    for i in range(len(raw) + 1):
        for j in range(i + 1, len(raw) + 1):
            if (i, j) != (0, len(raw)):
                with pytest.raises(Malformed):
                    parse_vkey(raw[i:j].decode())
    for i in range(len(raw)):
        changed = raw[:i] + bytes([raw[i] + 1]) + raw[i + 1 :]
        with pytest.raises(Malformed):
            parse_vkey(changed.decode())
    for bad in (
        "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==",
        "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
    ):
        with pytest.raises(Malformed):
            parse_vkey(bad)


BAD_NOTES: list[tuple[str, str | bytes]] = [
    # note_test.go TestOpen badMsgs
    ("text only", TEXT),
    ("blank line, no signatures", TEXT + "\n"),
    ("no final newline", TEXT + "\n" + PETER_SIG[:-1]),
    ("control character", "\x01" + TEXT + "\n" + PETER_SIG),
    ("invalid UTF-8", b"\xff" + (TEXT + "\n" + PETER_SIG).encode()),
    ("space in name", TEXT + "\n" + PETER_SIG.replace("PeterNeumann", "Bad Name")[:-1]),
    ("line after signatures", TEXT + "\n" + PETER_SIG + "Unexpected line.\n"),
    # ours
    ("tab in text", "a\tb\n\n" + PETER_SIG),
    ("carriage return", TEXT.replace("\n", "\r\n") + "\n" + PETER_SIG),
    ("hyphen instead of em dash", TEXT + "\n" + PETER_SIG.replace("—", "-")),
    ("no space after dash", TEXT + "\n" + PETER_SIG.replace("— ", "—")),
    ("empty name", TEXT + "\n" + PETER_SIG.replace("PeterNeumann", "")),
    ("plus in name", TEXT + "\n" + PETER_SIG.replace("PeterNeumann", "Peter+Neumann")),
    ("bad base64", TEXT + "\n" + PETER_SIG.replace("x08go", "x08g!")),
    ("base64 without padding", TEXT + "\n" + PETER_SIG.replace("AM=\n", "AM\n")),
    ("non-canonical base64", TEXT + "\n" + "— PeterNeumann AAAAAAB=\n"),
    ("signature shorter than a key ID", TEXT + "\n" + "— PeterNeumann AAAA\n"),
    ("empty signature", TEXT + "\n" + "— PeterNeumann \n"),
    ("lone surrogate", "\ud800\n\n" + PETER_SIG),
]


@pytest.mark.parametrize(("case", "note"), BAD_NOTES, ids=[c for c, _ in BAD_NOTES])
def test_malformed_notes_are_rejected(case: str, note: str | bytes) -> None:
    with pytest.raises(Malformed):
        parse_note(note)


def test_note_size_limit() -> None:
    assert parse_note(PETER_NOTE.encode()).to_text() == PETER_NOTE
    limit = len(PETER_NOTE.encode())
    parse_note(PETER_NOTE, max_bytes=limit)
    with pytest.raises(TooLarge):
        parse_note(PETER_NOTE, max_bytes=limit - 1)  # the em dash is 3 bytes, 1 character
    with pytest.raises(TooLarge):
        parse_note(PETER_NOTE.encode(), max_bytes=limit - 1)


def test_text_may_hold_blank_lines() -> None:
    text = "Note\n\nwith a blank line\n\n"
    note = parse_note(sign_note(text, "PeterNeumann", peter_key()))
    assert note.text == text
    assert verify_note(note, [parse_vkey(PETER_VKEY)]) == ["PeterNeumann"]
    # The last blank line separates text from signatures, so a signature line above it is text.
    shifted = parse_note(TEXT + "\n" + PETER_SIG + "\n" + PETER_SIG)
    assert shifted.text == TEXT + "\n" + PETER_SIG
    with pytest.raises(BadSignature):
        verify_note(shifted, [parse_vkey(PETER_VKEY)])


# --- signing with our keys -------------------------------------------------------------------


def test_round_trip_with_a_signing_key_pair() -> None:
    pair = new_pair()
    signed = sign_note("hello\n", "node.example/log", pair)
    verifier = parse_vkey(format_vkey("node.example/log", pair.public.public))
    assert verify_note(parse_note(signed), [verifier], required=["node.example/log"]) == [
        "node.example/log"
    ]


def test_signing_rejects_bad_text_and_names() -> None:
    for text in ("abc", "", "a\x00\n"):
        with pytest.raises(Malformed):
            sign_note(text, "name", peter_key())
    for name in ("", "a b", "a+b", "a\u2003b"):
        with pytest.raises(Malformed):
            sign_note(TEXT, name, peter_key())


def test_unknown_keys_are_ignored_even_when_they_share_a_name_or_an_id() -> None:
    pair = new_pair()
    signed = sign_note(TEXT, "PeterNeumann", pair)  # same name, other key, other key ID
    peter = parse_vkey(PETER_VKEY)
    with pytest.raises(BadSignature):
        verify_note(parse_note(signed), [peter])
    # A key ID that matches a known key under another name is not that key either.
    stolen = NoteSignature("Impostor", peter.key_id, parse_note(PETER_NOTE).signatures[0].sig)
    both = add_signatures(signed, [stolen])
    own = Verifier.ed25519("PeterNeumann", pair.public.public)
    assert verify_note(parse_note(both), [own, peter]) == ["PeterNeumann"]


def test_two_different_keys_with_the_same_name_and_id_are_a_configuration_error() -> None:
    peter = parse_vkey(PETER_VKEY)
    twin = Verifier(peter.name, peter.key_id, bytes(32))
    with pytest.raises(ValueError):
        verify_note(parse_note(PETER_NOTE), [peter, twin])


def test_add_signatures_keeps_one_signature_per_key() -> None:
    enoch_line = ENOCH_SIG
    combined = add_signatures(PETER_NOTE, [enoch_line, enoch_line.rstrip("\n"), PETER_SIG])
    assert combined == TEXT + "\n" + PETER_SIG + ENOCH_SIG
    with pytest.raises(Malformed):
        add_signatures(PETER_NOTE, ["not a signature"])
    many = [NoteSignature(f"w{i}", bytes(4), bytes(64)) for i in range(100)]
    with pytest.raises(Malformed):
        add_signatures(PETER_NOTE, many)


# --- checkpoints -----------------------------------------------------------------------------


def test_checkpoint_round_trip() -> None:
    checkpoint = parse_checkpoint(SOFA)
    assert checkpoint.origin == "example.com/behind-the-sofa"
    assert checkpoint.size == 20852163
    assert checkpoint.root == base64.b64decode("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=")
    assert checkpoint.extensions == ()
    assert checkpoint.to_text() == SOFA
    extended = Checkpoint("o", 0, bytes(32), ("ext one", "ext two"))
    assert parse_checkpoint(extended.to_text()) == extended


BAD_CHECKPOINTS = [
    ("no final newline", SOFA[:-1]),
    ("two lines", "origin\n1\n"),
    ("empty origin", "\n1\n" + "A" * 43 + "=\n"),
    ("leading zero", SOFA.replace("20852163", "020852163")),
    ("signed size", SOFA.replace("20852163", "+20852163")),
    ("negative size", SOFA.replace("20852163", "-1")),
    ("spaced size", SOFA.replace("20852163", " 20852163")),
    ("empty size", SOFA.replace("20852163", "")),
    ("size beyond 2**63 - 1", SOFA.replace("20852163", str(2**63))),
    ("short root", SOFA.replace("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=", "AAAA")),
    ("root not base64", SOFA.replace("CsUYap", "CsUY!p")),
    ("non-canonical root", SOFA.replace("xq2I=", "xq2J=")),
    ("empty extension line", SOFA + "\n"),
    ("control character", SOFA.replace("sofa", "so\tfa")),
]


@pytest.mark.parametrize(("case", "text"), BAD_CHECKPOINTS, ids=[c for c, _ in BAD_CHECKPOINTS])
def test_malformed_checkpoints_are_rejected(case: str, text: str) -> None:
    with pytest.raises(Malformed):
        parse_checkpoint(text)


def test_size_zero_is_spelled_0() -> None:
    assert parse_checkpoint("o\n0\n" + base64.b64encode(bytes(32)).decode() + "\n").size == 0


# --- cosignatures ----------------------------------------------------------------------------


def test_published_cosigner_vkeys_parse() -> None:
    """note_cosigv1_test.go TestCoSigV1NewVerifier: a native type 0x04 vkey and a 0x01 one."""
    witness = parse_vkey("remora.n621.de+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2")
    assert witness.alg == ALG_COSIGNATURE_V1
    assert format_witness_vkey(witness.name, witness.public_key) == witness.vkey
    plain = parse_vkey("TEST+7997405c+AQcC+FTVKf0jlTdHDY3rbevmnKxxPjigCXlVtGe6RIr6")
    assert plain.alg == ALG_ED25519


def test_published_cosignature_layout() -> None:
    """note_cosigv1_test.go TestCoSigV1Timestamp: key ID, then a big-endian timestamp."""
    blob = (
        "ZGhGuQAAAABm/qTPeyKXD+R2rzyQsxPiP8mXum7qq/iF0u4vanlqJyocWODBt97w9uL+8qT7S5gxEHWWOworDcFiEBYJ"
        "XORmnFBOBA=="
    )
    sig = parse_signature(f"— witness {blob}\n")
    assert len(sig.sig) == 8 + 64
    assert int.from_bytes(sig.sig[:8], "big") == 1727964367


def test_cosignature_round_trip_and_message_format() -> None:
    pair = new_pair()
    line = cosign(SOFA, "witness.example/w1", pair, 1679315147)
    assert verify_cosignature(SOFA, line, "witness.example/w1", pair.public.public) == 1679315147

    # Check the bytes against the specification, with PyNaCl directly.
    sig = parse_signature(line)
    public = pair.public.public
    assert sig.key_id == hashlib.sha256(b"witness.example/w1\n\x04" + public).digest()[:4]
    assert sig.sig[:8] == (1679315147).to_bytes(8, "big")
    message = b"cosignature/v1\ntime 1679315147\n" + SOFA.encode()
    nacl.signing.VerifyKey(public).verify(message, sig.sig[8:])


def test_cosignature_with_a_pynacl_key_and_in_a_note() -> None:
    log, witness = new_pair(), nacl.signing.SigningKey.generate()
    checkpoint = Checkpoint("log.example", 5, hashlib.sha256(b"x").digest(), ("extension",))
    text = checkpoint.to_text()
    signed = sign_note(text, "log.example", log)
    cosigned = add_signatures(signed, [cosign(text, "witness.example", witness, 1_700_000_000)])
    note = parse_note(cosigned)
    log_verifier = Verifier.ed25519("log.example", log.public.public)
    witness_verifier = parse_vkey(format_witness_vkey("witness.example", bytes(witness.verify_key)))
    names = verify_note(note, [log_verifier, witness_verifier], required=["log.example"])
    assert names == ["log.example", "witness.example"]
    timestamp = verify_cosignature(
        note.text, note.signatures[1], "witness.example", bytes(witness.verify_key)
    )
    assert timestamp == 1_700_000_000


def test_bad_cosignatures_are_rejected() -> None:
    pair, other = new_pair(), new_pair()
    public = pair.public.public
    line = cosign(SOFA, "w", pair, 1000)
    with pytest.raises(BadSignature):
        verify_cosignature(SOFA, line, "v", public)  # another witness name
    with pytest.raises(BadSignature):
        verify_cosignature(SOFA, line, "w", other.public.public)  # another key
    with pytest.raises(BadSignature):
        verify_cosignature(SOFA.replace("20852163", "20852164"), line, "w", public)
    sig = parse_signature(line)
    later = NoteSignature(sig.name, sig.key_id, (1001).to_bytes(8, "big") + sig.sig[8:])
    with pytest.raises(BadSignature):
        verify_cosignature(SOFA, later, "w", public)
    short = NoteSignature(sig.name, sig.key_id, sig.sig[8:])
    with pytest.raises(BadSignature):
        verify_cosignature(SOFA, short, "w", public)
    # An ordinary Ed25519 note signature by the same key is not a cosignature.
    plain = parse_note(sign_note(SOFA, "w", pair)).signatures[0]
    with pytest.raises(BadSignature):
        verify_cosignature(SOFA, plain, "w", public)
    with pytest.raises(Malformed):
        verify_cosignature(SOFA, "garbage", "w", public)
    with pytest.raises(Malformed):
        cosign("not a checkpoint\n", "w", pair, 1000)
    with pytest.raises(ValueError):
        cosign(SOFA, "w", pair, 2**63)
    with pytest.raises(ValueError):
        cosign(SOFA, "w", pair, -1)


def test_extension_lines_are_cosigned() -> None:
    """note_cosigv1_test.go TestSigCoversExtensionLines."""
    pair = new_pair()
    text = "test\n123\nf+7CoKgXKE/tNys9TTXcr/ad6U/K3xvznmzew9y6SP0=\nExtendo\n"
    line = cosign(text, "w", pair, 5)
    with pytest.raises(BadSignature):
        verify_cosignature(text.replace("Extendo", "Extend@"), line, "w", pair.public.public)


def test_witness_and_log_key_ids_differ_for_one_key() -> None:
    public = new_pair().public.public
    assert note_key_id("n", ALG_ED25519, public) != note_key_id("n", ALG_COSIGNATURE_V1, public)
    assert format_vkey("n", public) != format_witness_vkey("n", public)


# --- properties ------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(), st.binary(), st.text(alphabet="—ab \n=+/AZ09").map(str)))
def test_parse_note_fails_only_with_exchange_errors(data: str | bytes) -> None:
    try:
        note = parse_note(data)
    except ExchangeError:
        return
    assert parse_note(note.to_text()) == note


note_texts = st.text(alphabet=st.characters(codec="utf-8", min_codepoint=0x20) | st.just("\n")).map(
    lambda t: t + "\n"
)
names = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Zs", "Cc", "Zl", "Zp")), min_size=1
).filter(lambda n: "+" not in n and not any(c.isspace() for c in n))


@settings(max_examples=100, deadline=None)
@given(note_texts, names)
def test_sign_then_parse_round_trips(text: str, name: str) -> None:
    key = peter_key()
    signed = sign_note(text, name, key)
    note = parse_note(signed)
    assert note.text == text
    assert note.to_text() == signed
    assert verify_note(note, [Verifier.ed25519(name, bytes(key.verify_key))]) == [name]


@settings(max_examples=200, deadline=None)
@given(
    st.text(min_size=1).filter(lambda o: "\n" not in o and all(c >= " " for c in o)),
    st.integers(0, 2**63 - 1),
    st.binary(min_size=32, max_size=32),
    st.lists(st.text(min_size=1).filter(lambda o: "\n" not in o and all(c >= " " for c in o))),
)
def test_checkpoint_round_trips(origin: str, size: int, root: bytes, ext: list[str]) -> None:
    checkpoint = Checkpoint(origin, size, root, tuple(ext))
    assert parse_checkpoint(checkpoint.to_text()) == checkpoint
