"""Our signing layer against RFC 8032 §7.1 Ed25519 test vectors, and key handling."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from exchange.core.errors import BadSignature, ExpiredKey, Malformed
from exchange.core.keys import (
    EncryptionKeyPair,
    KeyRing,
    PublicKey,
    SigningKeyPair,
    key_id_for,
    seal_to,
    verify_signature,
)

NOW = datetime(2026, 11, 1, tzinfo=UTC)

# RFC 8032 section 7.1, TEST 1, 2, 3 and TEST SHA(abc): (secret, public, message, signature)
RFC8032 = [
    (
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        "",
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    ),
    (
        "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        "72",
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
    ),
    (
        "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
        "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
        "af82",
        "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
    ),
]


@pytest.mark.parametrize(("secret", "public", "message", "signature"), RFC8032)
def test_rfc8032_vectors(secret: str, public: str, message: str, signature: str) -> None:
    pair = SigningKeyPair.from_seed(bytes.fromhex(secret), NOW, NOW + timedelta(days=1))
    assert pair.public.public.hex() == public
    assert pair.sign(bytes.fromhex(message)).hex() == signature
    verify_signature(bytes.fromhex(public), bytes.fromhex(message), bytes.fromhex(signature))
    tampered = bytearray.fromhex(signature)
    tampered[0] ^= 1
    with pytest.raises(BadSignature):
        verify_signature(bytes.fromhex(public), bytes.fromhex(message), bytes(tampered))
    with pytest.raises(BadSignature):
        verify_signature(
            bytes.fromhex(public), bytes.fromhex(message) + b"x", bytes.fromhex(signature)
        )


def test_public_key_json_round_trip_and_validation() -> None:
    pair = SigningKeyPair.generate(NOW, timedelta(days=10))
    data = pair.public.to_json()
    assert PublicKey.from_json(data) == pair.public
    assert pair.public.key_id == key_id_for("ed25519", pair.public.public)
    for bad in (
        {**data, "key_id": "ed25519:0000000000000000"},
        {**data, "alg": "rsa"},
        {**data, "public_key": "AAAA"},
        {**data, "not_after": data["not_before"]},
        "not a key",
    ):
        with pytest.raises(Malformed):
            PublicKey.from_json(bad)


def test_rotation_keeps_old_keys_usable_until_they_expire() -> None:
    ring = KeyRing(
        (SigningKeyPair.generate(NOW, timedelta(days=30)),),
        (EncryptionKeyPair.generate(NOW, timedelta(days=30)),),
    )
    old_enc = ring.current_encryption(NOW)
    sealed = seal_to(old_enc.public.public, b"sent before rotation")
    later = NOW + timedelta(days=1)
    rotated = ring.rotated(later, timedelta(days=365))
    assert rotated.current_encryption(later) is not old_enc
    assert rotated.current_signing(later).public.not_before == later
    still = rotated.encryption_by_id(old_enc.public.key_id)
    assert still is not None and still.open_sealed(sealed) == b"sent before rotation"
    # After the old keys expire, only the new ones are current; none at all is an error.
    assert rotated.current_signing(NOW + timedelta(days=31)) is rotated.signing[-1]
    with pytest.raises(ExpiredKey):
        ring.current_signing(NOW + timedelta(days=31))


def test_private_keys_do_not_appear_in_repr() -> None:
    pair = SigningKeyPair.generate(NOW, timedelta(days=1))
    enc = EncryptionKeyPair.generate(NOW, timedelta(days=1))
    assert pair.seed.hex() not in repr(pair) and "seed" not in repr(pair)
    assert enc.private.hex() not in repr(enc)
