"""Encryption of contents at rest with per-record keys (crypto-erasure ready).

Each record gets a fresh 32-byte key; the content is encrypted with it
(XChaCha20-Poly1305, PyNaCl ``Aead``) and the key is wrapped with the
node's storage key. The record's identity is bound as associated data, so
ciphertexts cannot be swapped between rows. Destroying the wrapped key
erases the record even where copies of the ciphertext survive.
"""

from __future__ import annotations

import json

import nacl.exceptions
import nacl.pwhash
import nacl.secret
import nacl.utils

from .canonical import b64d, b64e
from .errors import DecryptionFailed, Malformed

KEY_BYTES = nacl.secret.Aead.KEY_SIZE


def new_storage_key() -> bytes:
    return bytes(nacl.utils.random(KEY_BYTES))


class Vault:
    def __init__(self, storage_key: bytes) -> None:
        if len(storage_key) != KEY_BYTES:
            raise ValueError("storage key must be 32 bytes")
        self._key = nacl.secret.Aead(storage_key)

    def seal(self, plaintext: bytes, *, record: str) -> tuple[bytes, bytes]:
        """Return ``(wrapped_record_key, ciphertext)``."""
        record_key = nacl.utils.random(KEY_BYTES)
        aad = record.encode()
        ciphertext = nacl.secret.Aead(record_key).encrypt(plaintext, aad)
        wrapped = self._key.encrypt(record_key, aad)
        return bytes(wrapped), bytes(ciphertext)

    def wrap(self, record_key: bytes, *, record: str) -> bytes:
        """Wrap a record key made elsewhere (an attachment's stream key)."""
        return bytes(self._key.encrypt(record_key, record.encode()))

    def unwrap(self, wrapped_key: bytes, *, record: str) -> bytes:
        try:
            return bytes(self._key.decrypt(wrapped_key, record.encode()))
        except nacl.exceptions.CryptoError as exc:
            raise DecryptionFailed("stored key cannot be unwrapped") from exc

    def open(self, wrapped_key: bytes, ciphertext: bytes, *, record: str) -> bytes:
        aad = record.encode()
        try:
            record_key = self._key.decrypt(wrapped_key, aad)
            return bytes(nacl.secret.Aead(record_key).decrypt(ciphertext, aad))
        except nacl.exceptions.CryptoError as exc:
            raise DecryptionFailed("stored record cannot be decrypted") from exc


# Passphrase protection of the storage key: Argon2id (libsodium's "moderate" limits:
# 3 passes, 256 MiB) derives a key that seals the storage key with XSalsa20-Poly1305.
PROTECTED_FORMAT = "exchange-storage-key/1"


def protect_storage_key(
    storage_key: bytes,
    passphrase: bytes,
    *,
    opslimit: int = nacl.pwhash.argon2id.OPSLIMIT_MODERATE,
    memlimit: int = nacl.pwhash.argon2id.MEMLIMIT_MODERATE,
) -> bytes:
    salt = nacl.utils.random(nacl.pwhash.argon2id.SALTBYTES)
    kek = nacl.pwhash.argon2id.kdf(
        nacl.secret.SecretBox.KEY_SIZE, passphrase, salt, opslimit=opslimit, memlimit=memlimit
    )
    sealed = nacl.secret.SecretBox(kek).encrypt(storage_key)
    doc = {"format": PROTECTED_FORMAT, "kdf": "argon2id", "opslimit": opslimit,
           "memlimit": memlimit, "salt": b64e(salt), "sealed": b64e(bytes(sealed))}  # fmt: skip
    return (json.dumps(doc, indent=2) + "\n").encode()


def is_protected(data: bytes) -> bool:
    """A raw key is exactly 32 random bytes (which may well begin with "{"); a protected
    one is a JSON document, always longer."""
    return len(data) != KEY_BYTES and data.lstrip().startswith(b"{")


def unprotect_storage_key(data: bytes, passphrase: bytes) -> bytes:
    """The storage key, or ``DecryptionFailed`` for a wrong passphrase."""
    try:
        doc = json.loads(data)
        ok = doc["format"] == PROTECTED_FORMAT and doc["kdf"] == "argon2id"
        opslimit, memlimit = int(doc["opslimit"]), int(doc["memlimit"])
        salt = b64d(doc["salt"], field="salt", length=nacl.pwhash.argon2id.SALTBYTES)
        sealed = b64d(doc["sealed"], field="sealed")
    except (ValueError, KeyError, TypeError) as exc:
        raise Malformed("the protected storage key file is damaged") from exc
    if not ok:
        raise Malformed("unknown storage key format")
    kek = nacl.pwhash.argon2id.kdf(
        nacl.secret.SecretBox.KEY_SIZE, passphrase, salt, opslimit=opslimit, memlimit=memlimit
    )
    try:
        return bytes(nacl.secret.SecretBox(kek).decrypt(sealed))
    except nacl.exceptions.CryptoError as exc:
        raise DecryptionFailed("wrong passphrase for the storage key") from exc
