"""The witness's judgement: advance only on a verified consistency proof."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from exchange.core.errors import BadSignature
from exchange.core.keys import SigningKeyPair
from exchange.core.merkle import EMPTY_ROOT, MemoryHashStore, consistency_proof, root
from exchange.core.note import format_vkey, parse_note
from exchange.core.witness import (
    Seen,
    judge,
    open_checkpoint,
    origin_for,
    sign_checkpoint,
)

NOW = datetime(2026, 11, 1, tzinfo=UTC)


def _log(entries: list[bytes]) -> MemoryHashStore:
    store = MemoryHashStore()
    for e in entries:
        store.append(e)
    return store


def _checkpoint(store: MemoryHashStore, size: int, key: SigningKeyPair):  # type: ignore[no-untyped-def]
    vkey = format_vkey(origin_for("MA-CNA"), key.public.public)
    note = parse_note(sign_checkpoint("MA-CNA", size, root(store, size), key))
    return open_checkpoint(note, "MA-CNA", vkey)


@pytest.fixture
def key() -> SigningKeyPair:
    return SigningKeyPair.generate(NOW, timedelta(days=1))


def test_growth_with_a_valid_proof_advances(key: SigningKeyPair) -> None:
    store = _log([b"e%d" % i for i in range(20)])
    old = Seen(7, root(store, 7))
    new = _checkpoint(store, 20, key)
    assert judge(old, new, consistency_proof(store, 7, 20)).verdict == "advance"
    assert judge(None, new, None).verdict == "advance"
    assert judge(Seen(0, EMPTY_ROOT), new, []).verdict == "advance"
    assert judge(Seen(20, root(store, 20)), new, None).verdict == "same"


def test_a_rewritten_history_is_a_fork(key: SigningKeyPair) -> None:
    honest = _log([b"e%d" % i for i in range(20)])
    forked = _log([b"e%d" % i for i in range(5)] + [b"X"] + [b"e%d" % i for i in range(6, 25)])
    seen = Seen(10, root(honest, 10))
    verdict = judge(seen, _checkpoint(forked, 25, key), consistency_proof(forked, 10, 25))
    assert verdict.verdict == "fork" and "not consistent with 10" in verdict.detail
    same_size = judge(seen, _checkpoint(forked, 10, key), None)
    assert same_size.verdict == "fork" and "two different roots" in same_size.detail
    assert judge(seen, _checkpoint(honest, 20, key), None).verdict == "fork"  # no proof given


def test_a_shrinking_log_is_reported(key: SigningKeyPair) -> None:
    store = _log([b"e%d" % i for i in range(20)])
    verdict = judge(Seen(20, root(store, 20)), _checkpoint(store, 12, key), None)
    assert verdict.verdict == "shrunk" and "from 20 to 12" in verdict.detail


def test_checkpoints_must_be_signed_by_the_published_key(key: SigningKeyPair) -> None:
    store = _log([b"a", b"b"])
    note = parse_note(sign_checkpoint("MA-CNA", 2, root(store, 2), key))
    other = SigningKeyPair.generate(NOW, timedelta(days=1))
    with pytest.raises(BadSignature):
        open_checkpoint(note, "MA-CNA", format_vkey(origin_for("MA-CNA"), other.public.public))
    with pytest.raises(ValueError, match="names"):
        open_checkpoint(note, "SN-CNA", format_vkey(origin_for("MA-CNA"), key.public.public))
