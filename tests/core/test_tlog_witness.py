"""c2sp.org/tlog-witness add-checkpoint, parsed and decided without a node: each of the
specification's answers (200, 400, 403, 404, 409, 422) from hand-built bodies."""

from __future__ import annotations

import base64

import nacl.signing
import pytest

from exchange.core.errors import (
    BadSignature,
    InconsistentCheckpoint,
    Malformed,
    OldSizeMismatch,
    TooLarge,
    UnknownLog,
)
from exchange.core.merkle import EMPTY_ROOT, MemoryHashStore, consistency_proof, root
from exchange.core.note import Checkpoint, Verifier, parse_note, sign_note
from exchange.core.tlog_witness import (
    MAX_BODY_BYTES,
    Held,
    TrustedLog,
    decide,
    format_submission,
    parse_size,
    parse_submission,
)

ORIGIN = "example.com/behind-the-sofa"
KEY = nacl.signing.SigningKey(bytes(range(32)))
LOG = TrustedLog(ORIGIN, (Verifier.ed25519(ORIGIN, bytes(KEY.verify_key)),))


def _tree(n: int, tag: bytes = b"entry") -> MemoryHashStore:
    tree = MemoryHashStore()
    for i in range(n):
        tree.append(b"%s %d" % (tag, i))
    return tree


def _note(size: int, tree: MemoryHashStore, key: nacl.signing.SigningKey = KEY) -> str:
    text = Checkpoint(ORIGIN, size, root(tree, size) if size else EMPTY_ROOT).to_text()
    return sign_note(text, ORIGIN, key)


def _body(old: int, new: int, tree: MemoryHashStore) -> bytes:
    proof = consistency_proof(tree, old, new) if 0 < old < new else []
    return format_submission(old, proof, _note(new, tree))


def test_a_consistent_checkpoint_is_accepted_with_only_trusted_signatures() -> None:
    tree = _tree(20)
    held = Held(7, root(tree, 7))
    stranger = nacl.signing.SigningKey.generate()
    note = parse_note(_note(20, tree))
    extra = sign_note(note.text, "someone/else", stranger).split("\n\n")[1]
    body = _body(7, 20, tree) + extra.encode()
    verified = decide(parse_submission(body), LOG, held)
    assert [s.name for s in verified.signatures] == [ORIGIN]
    assert verified.text == note.text


def test_the_first_checkpoint_comes_from_size_zero_without_proof() -> None:
    tree = _tree(5)
    decide(parse_submission(_body(0, 5, tree)), LOG, None)
    # a proof from zero is not allowed: 422
    bad = format_submission(0, [EMPTY_ROOT], _note(5, tree))
    with pytest.raises(InconsistentCheckpoint):
        decide(parse_submission(bad), LOG, None)


def test_the_old_size_must_be_the_one_held() -> None:
    tree = _tree(9)
    with pytest.raises(OldSizeMismatch) as caught:
        decide(parse_submission(_body(4, 9, tree)), LOG, Held(6, root(tree, 6)))
    assert caught.value.size == 6
    with pytest.raises(OldSizeMismatch) as caught:
        decide(parse_submission(_body(4, 9, tree)), LOG, None)
    assert caught.value.size == 0


def test_a_bad_proof_or_another_root_is_inconsistent() -> None:
    tree, other = _tree(9), _tree(12, b"other")
    forged = format_submission(6, consistency_proof(other, 6, 9), _note(9, tree))
    with pytest.raises(InconsistentCheckpoint):
        decide(parse_submission(forged), LOG, Held(6, root(tree, 6)))
    with pytest.raises(InconsistentCheckpoint):  # same size, another root
        decide(parse_submission(_body(9, 9, tree)), LOG, Held(9, root(other, 9)))
    empty_but_not = sign_note(Checkpoint(ORIGIN, 0, b"\x01" * 32).to_text(), ORIGIN, KEY)
    with pytest.raises(InconsistentCheckpoint):
        decide(parse_submission(format_submission(0, [], empty_but_not)), LOG, None)


def test_unknown_origin_and_untrusted_signatures() -> None:
    tree = _tree(3)
    with pytest.raises(UnknownLog):
        decide(parse_submission(_body(0, 3, tree)), None, None)
    thief = nacl.signing.SigningKey.generate()
    forged = format_submission(0, [], _note(3, tree, thief))  # right name, wrong key
    with pytest.raises(BadSignature):
        decide(parse_submission(forged), LOG, None)
    note = _note(3, tree)
    tampered = note.replace(note.split("\n")[2], base64.b64encode(b"\x02" * 32).decode())
    with pytest.raises(BadSignature):  # a trusted key's signature that fails
        decide(parse_submission(format_submission(0, [], tampered)), LOG, None)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"old 3\n",
        b"old 03\n\n",
        b"old -1\n\n",
        b"old 3 \n\n",
        b"new 3\n\n",
        b"old 1\nnot base64\n\n",
        b"old 1\n" + base64.b64encode(b"x" * 31) + b"\n\n",
        b"old 1\n" + b"".join(base64.b64encode(bytes([i]) * 32) + b"\n" for i in range(64)) + b"\n",
        b"old 1\n\nnot a note",
        b"old 1\n\x80\n\n",
    ],
)
def test_malformed_bodies(body: bytes) -> None:
    with pytest.raises(Malformed):
        parse_submission(body + (b"" if body.endswith(b"note") else _note(3, _tree(3)).encode()))


def test_old_above_the_checkpoint_and_oversized_bodies() -> None:
    with pytest.raises(Malformed):
        parse_submission(format_submission(4, [], _note(3, _tree(3))))
    with pytest.raises((Malformed, TooLarge)):
        parse_submission(b"old 0\n\n" + b"x" * MAX_BODY_BYTES)


def test_size_bodies() -> None:
    assert parse_size(b"17\n") == 17
    for bad in (b"17", b"017\n", b"-1\n", b"1 \n"):
        with pytest.raises(Malformed):
            parse_size(bad)
