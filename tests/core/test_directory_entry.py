"""The pure check of an entry's self-signature (proof of possession)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from exchange.core.directory import Authority, Directory, sign_directory, verify_directory
from exchange.core.errors import DirectoryRejected
from exchange.core.keys import SigningKeyPair

from .authority_factory import make_authority

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
OPERATOR = SigningKeyPair.generate(NOW - timedelta(days=1), timedelta(days=3650))


def _entry() -> tuple[Authority, SigningKeyPair]:
    authority, sk, _ = make_authority("MA-CNA", now=NOW - timedelta(days=1))
    return authority, sk


def test_a_self_signed_entry_holds_and_round_trips() -> None:
    authority, _ = _entry()
    authority.check_self_signature(NOW)
    assert Authority.from_json(authority.to_json()) == authority
    directory = Directory(1, NOW, NOW + timedelta(days=1), (authority,))
    document = sign_directory(directory, OPERATOR)
    got = verify_directory(document, pinned_operator_keys=(OPERATOR.public.public,), now=NOW)
    assert got.get("MA-CNA") == authority


def _refusals() -> list[tuple[str, Authority]]:
    authority, sk = _entry()
    stranger = SigningKeyPair.generate(NOW - timedelta(days=1), timedelta(days=365))
    retired = replace(sk.public, retired_at=NOW - timedelta(hours=1))
    return [
        ("has no self-signature", replace(authority, self_signature=None)),
        ("not one of its keys", authority.self_signed(stranger)),
        ("does not verify", replace(authority, name="Another name")),
        (
            "may not sign at",
            replace(authority, signing_keys=(retired, stranger.public)).self_signed(sk),
        ),
        (
            "2 signing keys that may sign",
            replace(authority, signing_keys=(sk.public, stranger.public)).self_signed(sk),
        ),
    ]


@pytest.mark.parametrize("why,entry", _refusals(), ids=lambda v: v if isinstance(v, str) else "")
def test_a_bad_self_signature_is_refused_naming_the_entry(why: str, entry: Authority) -> None:
    with pytest.raises(DirectoryRejected) as caught:
        entry.check_self_signature(NOW)
    assert caught.value.message.startswith("entry MA-CNA ")
    assert why in caught.value.message
    # the operator's own tool cannot sign it either
    with pytest.raises(DirectoryRejected):
        sign_directory(Directory(1, NOW, NOW + timedelta(days=1), (entry,)), OPERATOR)


def test_the_key_must_be_valid_at_the_issue_time_not_later() -> None:
    authority, sk = _entry()
    authority.check_self_signature(sk.public.not_after - timedelta(seconds=1))
    with pytest.raises(DirectoryRejected, match="may not sign at"):
        authority.check_self_signature(sk.public.not_after)
    with pytest.raises(DirectoryRejected, match="may not sign at"):
        authority.check_self_signature(sk.public.not_before - timedelta(seconds=1))
