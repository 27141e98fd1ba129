"""Encryption of contents at rest with per-record keys (crypto-erasure ready).

Each record gets a fresh 32-byte key; the content is encrypted with it
(XChaCha20-Poly1305, PyNaCl ``Aead``) and the key is wrapped with the
node's storage key. The record's identity is bound as associated data, so
ciphertexts cannot be swapped between rows. Destroying the wrapped key
erases the record even where copies of the ciphertext survive.
"""

from __future__ import annotations

import nacl.exceptions
import nacl.secret
import nacl.utils

from .errors import DecryptionFailed

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
