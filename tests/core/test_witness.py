"""The witness's judgement: advance only on a verified consistency proof."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from exchange.core.errors import BadSignature
from exchange.core.keys import SigningKeyPair
from exchange.core.merkle import EMPTY_ROOT, MemoryHashStore, consistency_proof, root
from exchange.core.note import format_vkey, parse_note
from exchange.core.witness import (
    PeerRecord,
    Seen,
    failed_call,
    judge,
    open_checkpoint,
    origin_for,
    respond,
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
    # no proof offered is no evidence of a fork: the peer refused to prove (it was a
    # fork alert before issue 15, the false alarm against honest logs)
    assert judge(seen, _checkpoint(honest, 20, key), None).verdict == "refused"


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


def test_a_failed_call_is_unavailable_only_when_it_says_nothing_about_the_log() -> None:
    for status in (None, 429, 500, 502, 503, 504):
        assert failed_call(status) == "unavailable"
    for status in (200, 400, 401, 403, 404, 409, 422):
        assert failed_call(status) == "refused"


DAY = timedelta(hours=24)


def test_unavailable_is_alerted_once_and_only_after_the_configured_time() -> None:
    fresh = PeerRecord(None, frozenset())
    first = respond("unavailable", fresh, NOW, DAY)
    assert not first.alert and first.unavailable_since == NOW
    later = PeerRecord(NOW, frozenset())
    assert not respond("unavailable", later, NOW + DAY - timedelta(seconds=1), DAY).alert
    due = respond("unavailable", later, NOW + DAY, DAY)
    assert due.alert and due.unavailable_since == NOW
    assert not respond(
        "unavailable", PeerRecord(NOW, frozenset({"unavailable"})), NOW + 2 * DAY, DAY
    ).alert
    # answering again ends the outage and closes its alert, whatever the answer
    back = respond("refused", PeerRecord(NOW, frozenset({"unavailable"})), NOW + 2 * DAY, DAY)
    assert back.unavailable_since is None and back.close == {"unavailable"} and back.alert


def test_one_open_alert_per_kind_until_the_log_verifies_again() -> None:
    for kind in ("refused", "fork", "shrunk"):
        assert respond(kind, PeerRecord(None, frozenset()), NOW, DAY).alert
        assert not respond(kind, PeerRecord(None, frozenset({kind})), NOW, DAY).alert
    # an open alert of one kind never swallows another kind
    assert respond("refused", PeerRecord(None, frozenset({"fork"})), NOW, DAY).alert
    ok = respond("same", PeerRecord(NOW, frozenset({"fork", "refused"})), NOW, DAY)
    assert not ok.alert and ok.close == {"fork", "refused"} and ok.unavailable_since is None
