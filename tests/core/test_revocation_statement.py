"""Emergency revocation statements (exchange.core.revocation): strict, canonical,
signed by the revocation key the directory names, applied without un-revoking."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from exchange.core.canonical import canonical_json
from exchange.core.directory import Authority, Directory, format_operator_key
from exchange.core.errors import BadSignature, Malformed, TooLarge, UnknownSender
from exchange.core.keys import SigningKeyPair
from exchange.core.revocation import (
    NoRevocationKey,
    UnknownKey,
    apply_revocations,
    parse_statement,
    sign_statement,
    verify_statement,
)

from .authority_factory import make_authority

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)


def setup() -> tuple[Directory, SigningKeyPair, SigningKeyPair]:
    """A directory whose ES-CNA entry names a revocation key; (directory, signing
    key, revocation key)."""
    revocation = SigningKeyPair.generate(NOW, timedelta(days=3650))
    authority, sk, _ = make_authority("ES-CNA", now=NOW - timedelta(days=1))
    authority = replace(authority, revocation_key=format_operator_key(revocation.public.public))
    authority = authority.self_signed(sk)
    directory = Directory(1, NOW, NOW + timedelta(days=30), (authority,))
    return directory, sk, revocation


def make(key_id: str, signer: SigningKeyPair, **over: object) -> bytes:
    fields: dict[str, object] = {
        "authority": "ES-CNA",
        "key_id": key_id,
        "revoked_at": NOW - timedelta(hours=1),
        "issued_at": NOW,
    } | over
    return sign_statement(**fields, revocation_key=signer)  # type: ignore[arg-type]


def test_a_statement_by_the_revocation_key_verifies_and_round_trips() -> None:
    directory, sk, revocation = setup()
    document = make(sk.public.key_id, revocation)
    statement = verify_statement(document, directory=directory, now=NOW)
    assert (statement.authority, statement.key_id) == ("ES-CNA", sk.public.key_id)
    assert statement.revoked_at == NOW - timedelta(hours=1)
    assert json.loads(document)["statement"]["ctx"] == "exchange/revocation/v1"
    # the entry's revocation key is covered by its self-signature
    entry = directory.get("ES-CNA")
    assert entry is not None
    assert Authority.from_json(json.loads(canonical_json(entry.to_json()))) == entry
    tampered = replace(entry, revocation_key=format_operator_key(sk.public.public))
    with pytest.raises(Exception, match="self-signature that does not verify"):
        tampered.check_self_signature(NOW)


def test_a_statement_signed_by_the_stolen_signing_key_is_refused() -> None:
    directory, sk, _ = setup()
    with pytest.raises(BadSignature):
        verify_statement(make(sk.public.key_id, sk), directory=directory, now=NOW)


def test_unknown_keys_authorities_and_entries_without_revocation_key() -> None:
    directory, sk, revocation = setup()
    other = SigningKeyPair.generate(NOW, timedelta(days=1))
    with pytest.raises(UnknownKey):
        verify_statement(make(other.public.key_id, revocation), directory=directory, now=NOW)
    with pytest.raises(UnknownSender):
        verify_statement(
            make(sk.public.key_id, revocation, authority="FR-CNA"), directory=directory, now=NOW
        )
    entry = directory.get("ES-CNA")
    assert entry is not None
    bare = Directory(1, NOW, NOW + timedelta(days=1), (replace(entry, revocation_key=None),))
    with pytest.raises(NoRevocationKey):
        verify_statement(make(sk.public.key_id, revocation), directory=bare, now=NOW)


def test_the_shape_is_strict() -> None:
    directory, sk, revocation = setup()
    good = make(sk.public.key_id, revocation)
    outer = json.loads(good)
    bad = [
        good + b"\n",  # not canonical
        json.dumps(outer, indent=1).encode(),
        canonical_json(outer | {"extra": 1}),
        canonical_json({**outer, "statement": {**outer["statement"], "v": 2}}),
        canonical_json({**outer, "statement": {**outer["statement"], "ctx": "x"}}),
        canonical_json({**outer, "statement": {**outer["statement"], "more": 1}}),
        canonical_json({**outer, "sig": "AAAA"}),
    ]
    for document in bad:
        with pytest.raises(Malformed):
            parse_statement(document)
    with pytest.raises(TooLarge):
        parse_statement(b" " * 5000)
    with pytest.raises(Malformed, match="after issued_at"):
        make(sk.public.key_id, revocation, revoked_at=NOW + timedelta(hours=1))
    with pytest.raises(Malformed, match="future"):
        later = make(
            sk.public.key_id, revocation, revoked_at=NOW, issued_at=NOW + timedelta(hours=1)
        )
        verify_statement(later, directory=directory, now=NOW)
    # a changed field breaks the signature
    moved = {**outer["statement"], "revoked_at": "2026-03-01T11:30:00.000000Z"}
    with pytest.raises(BadSignature):
        verify_statement(
            canonical_json({**outer, "statement": moved}), directory=directory, now=NOW
        )


def test_applying_takes_the_earliest_time_and_never_unrevokes() -> None:
    directory, sk, _ = setup()
    key_id = sk.public.key_id
    early, late = NOW - timedelta(days=1), NOW - timedelta(hours=1)
    applied = apply_revocations(directory, [("ES-CNA", key_id, late), ("ES-CNA", key_id, early)])
    entry = applied.get("ES-CNA")
    assert entry is not None and entry.signing_key(key_id) is not None
    assert entry.signing_key(key_id).revoked_at == early  # type: ignore[union-attr]
    # a directory already revoking earlier keeps its time
    again = apply_revocations(applied, [("ES-CNA", key_id, NOW)])
    assert again.get("ES-CNA").signing_key(key_id).revoked_at == early  # type: ignore[union-attr]
    # unknown authorities are ignored
    assert apply_revocations(directory, [("FR-CNA", key_id, NOW)]) == directory
