"""X-Exchange-Auth v2 (header checked without the body, then the signature over the
body's hash) and the bounded cache of nonces seen."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from exchange.core.canonical import sha256_hex
from exchange.core.directory import Directory
from exchange.core.errors import BadSignature, Malformed, Replay
from exchange.core.keys import SigningKeyPair
from exchange.core.peer_auth import (
    CallAuth,
    NonceCache,
    check_header,
    sign_call,
    verify_body,
)

from .authority_factory import make_authority

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def parties() -> tuple[Directory, SigningKeyPair]:
    es, es_key, _ = make_authority("ES-CNA", now=NOW - timedelta(days=1))
    ma, _, _ = make_authority("MA-CNA", now=NOW - timedelta(days=1))
    return Directory(1, NOW - timedelta(days=1), NOW + timedelta(days=30), (es, ma)), es_key


def _header(key: SigningKeyPair, body: bytes = b"{}", **kw: object) -> str:
    args: dict[str, object] = {"now": NOW, **kw}
    return sign_call(
        method="POST", path="/v1/envelopes", sender="ES-CNA", recipient="MA-CNA", body=body,
        key=key, **args,  # type: ignore[arg-type]
    )  # fmt: skip


def _check(directory: Directory, header: str, now: datetime = NOW) -> CallAuth:
    return check_header(
        header, method="POST", path="/v1/envelopes", me="MA-CNA", directory=directory, now=now
    )


def test_header_is_checked_without_the_body_then_the_body_hash(
    parties: tuple[Directory, SigningKeyPair],
) -> None:
    directory, key = parties
    header = _header(key, b"the body")
    assert ";nonce=" in header and ";ts=2026-11-23T10:00:00.000000Z;" in header
    auth = _check(directory, header)
    assert auth.sender == "ES-CNA" and len(auth.nonce) == 32
    verify_body(auth, sha256_hex(b"the body"))
    with pytest.raises(BadSignature):
        verify_body(auth, sha256_hex(b"another body"))
    # the microseconds are signed: the same header a microsecond later does not verify
    later = header.replace("10:00:00.000000Z", "10:00:00.000001Z")
    with pytest.raises(BadSignature):
        verify_body(_check(directory, later), sha256_hex(b"the body"))
    assert _header(key)[:-88] != _header(key)[:-88]  # a fresh nonce per call


@pytest.mark.parametrize(
    "mangle",
    [
        lambda h: h + ";nonce=" + "0" * 32,  # a field twice
        lambda h: h.replace(";nonce=", ";nonce=zz"),  # not hex
        lambda h: h.replace("ts=2026-11-23T10:00:00.000000Z", "ts=1795428000"),
        lambda h: h.replace(";nonce=", ";extra=1;nonce="),
        lambda h: h + ";" + "x" * 1100,
    ],
)
def test_malformed_headers(
    parties: tuple[Directory, SigningKeyPair], mangle: Callable[[str], str]
) -> None:
    directory, key = parties
    with pytest.raises(Malformed):
        _check(directory, mangle(_header(key)))


def test_a_nonce_is_refused_the_second_time(parties: tuple[Directory, SigningKeyPair]) -> None:
    directory, key = parties
    cache = NonceCache()
    auth = _check(directory, _header(key))
    cache.check(auth)
    cache.remember(auth, NOW)
    with pytest.raises(Replay):
        cache.check(auth)
    with pytest.raises(Replay):
        cache.remember(auth, NOW)  # two copies read side by side: the second loses


def test_the_cache_is_bounded_and_forgetting_fails_closed(
    parties: tuple[Directory, SigningKeyPair],
) -> None:
    directory, key = parties
    cache = NonceCache(window=timedelta(minutes=5), per_peer=3)
    calls = [_check(directory, _header(key, now=NOW + timedelta(seconds=i)), NOW) for i in range(5)]
    for auth in calls:
        cache.remember(auth, NOW)
    assert cache.remembered("ES-CNA") == 3
    for forgotten in calls[:2]:  # evicted, yet still inside the window: refused anyway
        with pytest.raises(Replay):
            cache.check(forgotten)
    newer = _check(directory, _header(key, now=NOW + timedelta(seconds=9)), NOW)
    cache.check(newer)
    # once the window has passed, old entries go without waiting for the cap
    cache.remember(newer, NOW + timedelta(minutes=5, seconds=8))
    assert cache.remembered("ES-CNA") == 1
