"""The pure check of an entry's self-signature (proof of possession)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from exchange.core.directory import Authority, Directory, sign_directory, verify_directory
from exchange.core.errors import DirectoryRejected, Malformed
from exchange.core.keys import SigningKeyPair
from exchange.core.note import format_vkey, format_witness_vkey
from exchange.core.witness import witness_key

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


def test_witness_vkey_is_self_signed_and_strictly_checked() -> None:
    """``witness_vkey`` is covered by the self-signature, must be a type 0x04 key named
    ``exchange/<id>/witness``, and is what ``core.witness.witness_key`` returns."""
    now = datetime.now(UTC)
    entry, sk, _ = make_authority("MA-CNA", now=now)
    witness = SigningKeyPair.generate(now, timedelta(days=1)).public.public
    signed = replace(
        entry, witness_vkey=format_witness_vkey("exchange/MA-CNA/witness", witness)
    ).self_signed(sk)
    parsed = Authority.from_json(signed.to_json())
    parsed.check_self_signature(now)
    assert witness_key(parsed) == witness
    swapped = replace(
        parsed, witness_vkey=format_witness_vkey("exchange/MA-CNA/witness", b"\1" * 32)
    )
    with pytest.raises(DirectoryRejected):  # changed after signing
        swapped.check_self_signature(now)
    other = replace(
        entry, witness_vkey=format_witness_vkey("exchange/ES-CNA/witness", witness)
    ).self_signed(sk)
    with pytest.raises(DirectoryRejected, match="witness_vkey not named"):  # another's name
        Authority.from_json(other.to_json()).check_self_signature(now)
    for bad in (
        format_vkey("exchange/MA-CNA/witness", witness),  # type 0x01, not a cosigner key
        "garbage",
    ):
        with pytest.raises(Malformed):
            Authority.from_json({**signed.to_json(), "witness_vkey": bad})
