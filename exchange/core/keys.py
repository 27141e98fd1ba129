"""Authority keys: Ed25519 for signatures, X25519 for encryption (PyNaCl).

Every key has a key id derived from its public bytes and a validity
period. A ``KeyRing`` holds a node's private keys, current and old: old
keys stay usable to open and verify what was sent to or by them until
they expire. Raw PyNaCl calls stay inside ``exchange.core``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal, TypeVar

import nacl.exceptions
import nacl.public
import nacl.signing

from .canonical import JsonObject, b64d, b64e, format_time, parse_time
from .errors import BadSignature, DecryptionFailed, ExpiredKey, KeyRevoked, Malformed

Alg = Literal["ed25519", "x25519"]
KEY_LENGTH = 32
SIGNATURE_LENGTH = 64
_KEY_FIELDS = {"key_id", "alg", "public_key", "not_before", "not_after"}
_KEY_MARKS = {"retired_at", "revoked_at"}


def key_id_for(alg: Alg, public: bytes) -> str:
    """``alg:`` plus the first 16 hex digits of SHA-256(alg ":" public)."""
    digest = hashlib.sha256(alg.encode() + b":" + public).hexdigest()
    return f"{alg}:{digest[:16]}"


@dataclass(frozen=True)
class PublicKey:
    key_id: str
    alg: Alg
    public: bytes
    not_before: datetime
    not_after: datetime
    # verify-only from this moment (replaced by a newer key at rotation)
    retired_at: datetime | None = None
    # presumed stolen from this moment: nothing signed from then on is accepted
    revoked_at: datetime | None = None

    def valid_at(self, moment: datetime) -> bool:
        return self.not_before <= moment < self.not_after

    def require_valid_at(self, moment: datetime) -> None:
        if not self.valid_at(moment):
            raise ExpiredKey(f"key {self.key_id} is not valid at {format_time(moment)}")

    def signs_at(self, moment: datetime) -> bool:
        """May this key make a signature dated ``moment`` (neither retired nor revoked)?"""
        return not any(t is not None and moment >= t for t in (self.retired_at, self.revoked_at))

    def require_signs_at(self, signed_at: datetime) -> None:
        """A signature dated ``signed_at``: refused from the key's revocation
        (``key_revoked``) or retirement (``expired_key``) on."""
        if self.revoked_at is not None and signed_at >= self.revoked_at:
            raise KeyRevoked(f"key {self.key_id} is revoked since {format_time(self.revoked_at)}")
        if self.retired_at is not None and signed_at >= self.retired_at:
            raise ExpiredKey(
                f"key {self.key_id} is verify-only since {format_time(self.retired_at)}"
            )

    def to_json(self) -> JsonObject:
        marks = {"retired_at": self.retired_at, "revoked_at": self.revoked_at}
        return {
            "key_id": self.key_id,
            "alg": self.alg,
            "public_key": b64e(self.public),
            "not_before": format_time(self.not_before),
            "not_after": format_time(self.not_after),
        } | {name: format_time(t) for name, t in marks.items() if t is not None}

    @classmethod
    def from_json(cls, data: object) -> PublicKey:
        if not isinstance(data, dict):
            raise Malformed("key must be an object")
        unknown = sorted(set(data) - _KEY_FIELDS - _KEY_MARKS)
        if unknown or not set(data) >= _KEY_FIELDS:
            raise Malformed(
                f"key must be {{{', '.join(sorted(_KEY_FIELDS))}}} (+ retired_at, revoked_at)"
            )
        alg = data.get("alg")
        if alg not in ("ed25519", "x25519"):
            raise Malformed("key alg must be ed25519 or x25519")
        public = b64d(data.get("public_key"), field="public_key", length=KEY_LENGTH)
        key_id = data.get("key_id")
        if key_id != key_id_for(alg, public):
            raise Malformed("key_id does not match the public key")
        not_before = parse_time(data.get("not_before"), field="not_before")
        not_after = parse_time(data.get("not_after"), field="not_after")
        if not_after <= not_before:
            raise Malformed("key validity period is empty")
        retired, revoked = (
            parse_time(data[name], field=name) if name in data else None
            for name in ("retired_at", "revoked_at")
        )
        if retired is not None and alg != "ed25519":
            raise Malformed("only signing keys are retired (verify-only)")
        return cls(key_id, alg, public, not_before, not_after, retired, revoked)


def verify_signature(public: bytes, message: bytes, signature: bytes) -> None:
    """Raise ``BadSignature`` unless ``signature`` is a valid Ed25519 signature."""
    if len(signature) != SIGNATURE_LENGTH or len(public) != KEY_LENGTH:
        raise BadSignature("signature does not verify")
    try:
        nacl.signing.VerifyKey(public).verify(message, signature)
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError) as exc:
        raise BadSignature("signature does not verify") from exc


def seal_to(public: bytes, plaintext: bytes) -> bytes:
    """Anonymous ephemeral-static encryption (libsodium sealed box) to an X25519 key."""
    return bytes(nacl.public.SealedBox(nacl.public.PublicKey(public)).encrypt(plaintext))


@dataclass(frozen=True)
class SigningKeyPair:
    public: PublicKey
    seed: bytes = field(repr=False)

    @classmethod
    def generate(cls, now: datetime, validity: timedelta) -> SigningKeyPair:
        return cls.from_seed(bytes(nacl.signing.SigningKey.generate()), now, now + validity)

    @classmethod
    def from_seed(cls, seed: bytes, not_before: datetime, not_after: datetime) -> SigningKeyPair:
        sk = nacl.signing.SigningKey(seed)
        public = bytes(sk.verify_key)
        pk = PublicKey(key_id_for("ed25519", public), "ed25519", public, not_before, not_after)
        return cls(pk, seed)

    def __post_init__(self) -> None:
        # derived once: expanding the seed on every signature costs as much as signing
        object.__setattr__(self, "_signer", nacl.signing.SigningKey(self.seed))

    def sign(self, message: bytes) -> bytes:
        signer: nacl.signing.SigningKey = self._signer  # type: ignore[attr-defined]
        return bytes(signer.sign(message).signature)


@dataclass(frozen=True)
class EncryptionKeyPair:
    public: PublicKey
    private: bytes = field(repr=False)

    @classmethod
    def generate(cls, now: datetime, validity: timedelta) -> EncryptionKeyPair:
        return cls.from_private(bytes(nacl.public.PrivateKey.generate()), now, now + validity)

    @classmethod
    def from_private(
        cls, private: bytes, not_before: datetime, not_after: datetime
    ) -> EncryptionKeyPair:
        public = bytes(nacl.public.PrivateKey(private).public_key)
        pk = PublicKey(key_id_for("x25519", public), "x25519", public, not_before, not_after)
        return cls(pk, private)

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "_box", nacl.public.SealedBox(nacl.public.PrivateKey(self.private))
        )

    def open_sealed(self, ciphertext: bytes) -> bytes:
        box: nacl.public.SealedBox[nacl.public.PrivateKey] = self._box  # type: ignore[attr-defined]
        try:
            return bytes(box.decrypt(ciphertext))
        except nacl.exceptions.CryptoError as exc:
            raise DecryptionFailed("ciphertext cannot be opened") from exc


@dataclass(frozen=True)
class KeyRing:
    """A node's private keys, oldest first."""

    signing: tuple[SigningKeyPair, ...]
    encryption: tuple[EncryptionKeyPair, ...]

    def current_signing(self, now: datetime) -> SigningKeyPair:
        return _newest_valid(self.signing, now)

    def current_encryption(self, now: datetime) -> EncryptionKeyPair:
        return _newest_valid(self.encryption, now)

    def encryption_by_id(self, key_id: str) -> EncryptionKeyPair | None:
        return next((k for k in self.encryption if k.public.key_id == key_id), None)

    def rotated(self, now: datetime, validity: timedelta) -> KeyRing:
        """A new ring with fresh current keys; old keys are kept until they expire."""
        return KeyRing(
            (*self.signing, SigningKeyPair.generate(now, validity)),
            (*self.encryption, EncryptionKeyPair.generate(now, validity)),
        )

    def public_signing(self, now: datetime) -> list[PublicKey]:
        return [k.public for k in self.signing if k.public.not_after > now]

    def public_encryption(self, now: datetime) -> list[PublicKey]:
        return [k.public for k in self.encryption if k.public.not_after > now]


_K = TypeVar("_K", SigningKeyPair, EncryptionKeyPair)


def _newest_valid(keys: tuple[_K, ...], now: datetime) -> _K:
    valid = [k for k in keys if k.public.valid_at(now)]
    if not valid:
        raise ExpiredKey("no valid key of this kind: rotate keys")
    return max(valid, key=lambda k: k.public.not_before)
