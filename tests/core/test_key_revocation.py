"""The pure rules of verify-only (retired) and revoked keys, and the directory v2 format."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from exchange.core.directory import Directory, sign_directory, verify_directory
from exchange.core.errors import ExchangeError, ExpiredKey, KeyRevoked, Malformed
from exchange.core.keys import PublicKey, SigningKeyPair
from exchange.core.peer_auth import check_header, sign_call

from .authority_factory import make_authority

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
KEY = SigningKeyPair.generate(NOW - timedelta(days=30), timedelta(days=365))


def test_a_retired_key_verifies_only_what_was_signed_before_its_retirement() -> None:
    retired = replace(KEY.public, retired_at=NOW)
    retired.require_signs_at(NOW - timedelta(seconds=1))
    with pytest.raises(ExpiredKey):
        retired.require_signs_at(NOW)
    assert not retired.signs_at(NOW) and retired.signs_at(NOW - timedelta(hours=1))


def test_a_revoked_key_is_refused_from_the_compromise_on_before_its_retirement() -> None:
    key = replace(KEY.public, retired_at=NOW, revoked_at=NOW - timedelta(hours=2))
    key.require_signs_at(NOW - timedelta(hours=3))
    with pytest.raises(KeyRevoked) as caught:
        key.require_signs_at(NOW - timedelta(hours=1))
    assert caught.value.code == "key_revoked"


def test_marks_round_trip_and_unknown_key_fields_are_refused() -> None:
    key = replace(KEY.public, retired_at=NOW, revoked_at=NOW)
    assert PublicKey.from_json(key.to_json()) == key
    with pytest.raises(Malformed):
        PublicKey.from_json(key.to_json() | {"trusted": True})


def test_a_peer_call_signed_by_a_retired_or_revoked_key_is_refused() -> None:
    authority, pair, _ = make_authority("ES-CNA", now=NOW - timedelta(days=1))
    for marks, code in (({"retired_at": NOW}, "expired_key"), ({"revoked_at": NOW}, "key_revoked")):
        marked = replace(authority, signing_keys=(replace(pair.public, **marks),))
        directory = Directory(1, NOW, NOW + timedelta(days=1), (marked,))
        header = sign_call(
            method="POST", path="/v1/envelopes", sender="ES-CNA", recipient="MA-CNA",
            body=b"{}", key=pair, now=NOW,
        )  # fmt: skip
        with pytest.raises(ExchangeError) as caught:
            check_header(
                header, method="POST", path="/v1/envelopes", me="MA-CNA", directory=directory,
                now=NOW,
            )  # fmt: skip
        assert caught.value.code == code


def test_a_directory_of_another_version_is_refused_with_a_clear_code() -> None:
    operator = SigningKeyPair.generate(NOW - timedelta(days=1), timedelta(days=3650))
    directory = Directory(1, NOW, NOW + timedelta(days=1), ())
    document = sign_directory(directory, operator)
    verify_directory(document, pinned_operator_keys=(operator.public.public,), now=NOW)
    old = document.replace(b'"v":2', b'"v":1')
    assert old != document
    with pytest.raises(ExchangeError) as caught:
        verify_directory(old, pinned_operator_keys=(operator.public.public,), now=NOW)
    assert caught.value.code == "unsupported_version"
