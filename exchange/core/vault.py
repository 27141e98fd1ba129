"""Encryption of contents at rest with per-record keys, and their erasure.

Each record gets a fresh 32-byte key; the content is encrypted with it
(XChaCha20-Poly1305, PyNaCl ``Aead``). The record key is wrapped by the
key-encryption key (KEK) of the month it was sealed in, and the wrapped key names
that KEK. The record's identity is bound as associated data, so ciphertexts and
wrapped keys cannot be swapped between rows.

Erasing a record rotates the KEKs that wrapped its keys (``PeriodKeys.rotate``): the
records that stay are wrapped anew under a fresh KEK, and the old KEK, which exists
only in its own file under ``keys/periods/``, is destroyed. Every copy of the database
made before the erasure (a backup) then holds the erased record's key wrapped under a
KEK that no longer exists anywhere. KEK files are sealed by the storage key
(ops/period_keys.py), so a passphrase on the storage key protects them too.

Wrapped key: ``0x01 | KEK id (16 ASCII bytes, YYYY-MM.NNNNNNNN) | Aead(KEK)`` (89 bytes).
Before KEKs the storage key wrapped record keys itself (72 bytes, no header); such
keys are still read, and re-wrapped under KEKs when a node opens its database.
"""

from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta

import nacl.encoding
import nacl.exceptions
import nacl.hash
import nacl.pwhash
import nacl.secret
import nacl.utils

from .canonical import b64d, b64e
from .clock import Clock, SystemClock
from .errors import DecryptionFailed, Malformed

KEY_BYTES = nacl.secret.Aead.KEY_SIZE
KEK_ID_BYTES = 16
_WRAPPED = b"\x01"
_AEAD_OVERHEAD = nacl.secret.Aead.NONCE_SIZE + nacl.secret.Aead.MACBYTES
LEGACY_WRAPPED_BYTES = _AEAD_OVERHEAD + KEY_BYTES  # a key wrapped by the storage key
WRAPPED_BYTES = len(_WRAPPED) + KEK_ID_BYTES + LEGACY_WRAPPED_BYTES


def new_storage_key() -> bytes:
    return bytes(nacl.utils.random(KEY_BYTES))


def period_of(at: datetime) -> str:
    """The KEK period of a record sealed at ``at``: its UTC month."""
    return f"{at.year:04d}-{at.month:02d}"


def kek_id(period: str, generation: int) -> str:
    return f"{period}.{generation:08d}"


def split_kek_id(value: str) -> tuple[str, int]:
    """``(period, generation)``, or ``Malformed`` for anything else."""
    period, _, generation = value.partition(".")
    if len(value) != KEK_ID_BYTES or len(period) != 7 or period[4] != "-":
        raise Malformed("not a KEK id")
    if not (period[:4] + period[5:] + generation).isdigit() or not generation.isascii():
        raise Malformed("not a KEK id")
    return period, int(generation)


def kek_of(wrapped: bytes) -> str | None:
    """The id of the KEK that wrapped this key (``None``: wrapped by the storage key)."""
    if len(wrapped) == WRAPPED_BYTES and wrapped[:1] == _WRAPPED:
        return wrapped[1 : 1 + KEK_ID_BYTES].decode("ascii", "replace")
    return None


class PeriodKeys:
    """Key-encryption keys by id. Per period, the newest one not retired wraps the keys
    of records sealed in that period; a retired one still unwraps until it is destroyed.
    Subclasses keep the keys somewhere (``_store``, ``_load``, ``_erase``)."""

    def __init__(self, ids: list[str] | None = None) -> None:
        self._ids: set[str] = set(ids or ())
        self._cache: dict[str, bytes] = {}
        self._retired: set[str] = set()
        self._lock = threading.RLock()

    def hold(self) -> None:
        """Become the one writer of these keys (files: a lock; memory: nothing to do)."""

    def release(self) -> None:
        """Stop being their writer."""

    def young(self, kids: set[str], *, now: datetime, grace: timedelta) -> set[str]:
        """Those of ``kids`` another process may have chosen to wrap under within
        ``grace`` (keys in memory have no other process: none)."""
        return set()

    def prepare(self, now: datetime) -> None:
        """The writer makes the KEK of this period and of the next ahead of time, so
        that processes which do not write the keys (``[cluster] active_active``) find
        them."""
        for moment in (now, now + timedelta(days=7)):
            self.active(period_of(moment))

    def try_hold(self) -> bool:
        """``hold`` if no other process writes these keys; whether this one now does."""
        self.hold()
        return True

    def _store(self, kid: str, key: bytes) -> None:
        raise NotImplementedError

    def _load(self, kid: str) -> bytes | None:
        raise NotImplementedError

    def _erase(self, kid: str) -> None:
        raise NotImplementedError

    def ids(self) -> list[str]:
        with self._lock:
            return sorted(self._ids)

    def active(self, period: str) -> tuple[str, bytes]:
        """The KEK that wraps new keys of ``period`` (made on first use)."""
        with self._lock:
            live = [k for k in self._ids if k.startswith(period + ".") and k not in self._retired]
            kid = max(live) if live else self._new(period)
            key = self.get(kid)
            if key is None:  # its file is damaged: never wrap under a key we cannot read
                self._retired.add(kid)
                return self.active(period)
            return kid, key

    def get(self, kid: str) -> bytes | None:
        """The KEK, or ``None`` once it is destroyed (or was never made here)."""
        with self._lock:
            if kid not in self._cache:
                key = self._load(kid) if kid in self._ids else None
                if key is None:
                    return None
                self._cache[kid] = key
            return self._cache[kid]

    def rotate(self, kid: str) -> str:
        """Retire ``kid``; return the fresh KEK that now wraps its period's keys."""
        with self._lock:
            self._retired.add(kid)
            return self._new(split_kek_id(kid)[0])

    def retire(self, kids: set[str]) -> None:
        with self._lock:
            self._retired |= kids & self._ids

    def retired(self) -> set[str]:
        with self._lock:
            return set(self._retired)

    def idle(self, *, now: datetime) -> set[str]:
        """KEKs that will never wrap a key again: retired ones, older generations, and
        the current generation of a period before ``now``'s."""
        current = period_of(now)
        with self._lock:
            newest: dict[str, str] = {}
            for kid in self._ids - self._retired:
                period = split_kek_id(kid)[0]
                newest[period] = max(newest.get(period, kid), kid)
            keep = {kid for period, kid in newest.items() if period >= current}
            return self._ids - keep

    def destroy(self, kids: set[str]) -> list[str]:
        """Destroy these KEKs (never one that is still wanted: the caller checked that
        no stored key names them, and ``idle`` that none will)."""
        destroyed = []
        with self._lock:
            for kid in sorted(kids & self._ids):
                self._erase(kid)
                self._ids.discard(kid)
                self._retired.discard(kid)
                self._cache.pop(kid, None)
                destroyed.append(kid)
        return destroyed

    def _new(self, period: str) -> str:
        generations = [split_kek_id(k)[1] for k in self._ids if k.startswith(period + ".")]
        kid = kek_id(period, max(generations, default=0) + 1)
        key = bytes(nacl.utils.random(KEY_BYTES))
        self._store(kid, key)
        self._ids.add(kid)
        self._cache[kid] = key
        return kid


class MemoryKeys(PeriodKeys):
    """KEKs kept in memory only (tests, and vaults used for one computation)."""

    def _store(self, kid: str, key: bytes) -> None:
        pass  # the cache is the store

    def _load(self, kid: str) -> bytes | None:
        return None

    def _erase(self, kid: str) -> None:
        pass


class Vault:
    def __init__(
        self, storage_key: bytes, keks: PeriodKeys | None = None, clock: Clock | None = None
    ) -> None:
        if len(storage_key) != KEY_BYTES:
            raise ValueError("storage key must be 32 bytes")
        self._legacy = nacl.secret.Aead(storage_key)
        self.keks = keks if keks is not None else MemoryKeys()
        self._clock = clock or SystemClock()

    def replace_storage_key(self, storage_key: bytes) -> None:
        """The storage key was replaced (ops/period_keys.adopt): the old one, which
        wrapped record keys before KEKs, is forgotten."""
        self._legacy = nacl.secret.Aead(storage_key)

    def seal(self, plaintext: bytes, *, record: str) -> tuple[bytes, bytes]:
        """Return ``(wrapped_record_key, ciphertext)``."""
        record_key = bytes(nacl.utils.random(KEY_BYTES))
        ciphertext = nacl.secret.Aead(record_key).encrypt(plaintext, record.encode())
        return self.wrap(record_key, record=record), bytes(ciphertext)

    def wrap(self, record_key: bytes, *, record: str, at: datetime | None = None) -> bytes:
        """Wrap a record key under the KEK of ``at``'s period (default: now)."""
        kid, kek = self.keks.active(period_of(at or self._clock.now()))
        return _wrap(kid, kek, record_key, record)

    def unwrap(self, wrapped_key: bytes, *, record: str) -> bytes:
        kid = kek_of(wrapped_key)
        if kid is None and len(wrapped_key) == LEGACY_WRAPPED_BYTES:
            box, body = self._legacy, wrapped_key
        else:
            kek = self.keks.get(kid) if kid is not None else None
            if kek is None:
                raise DecryptionFailed("stored key cannot be unwrapped")
            box, body = nacl.secret.Aead(kek), wrapped_key[1 + KEK_ID_BYTES :]
        try:
            return bytes(box.decrypt(body, record.encode()))
        except nacl.exceptions.CryptoError as exc:
            raise DecryptionFailed("stored key cannot be unwrapped") from exc

    def rewrap(self, wrapped_key: bytes, *, record: str, to: str) -> bytes:
        """The same record key, wrapped under the KEK ``to``."""
        kek = self.keks.get(to)
        if kek is None:
            raise DecryptionFailed("no such key-encryption key")
        return _wrap(to, kek, self.unwrap(wrapped_key, record=record), record)

    def open(self, wrapped_key: bytes, ciphertext: bytes, *, record: str) -> bytes:
        try:
            record_key = self.unwrap(wrapped_key, record=record)
            return bytes(nacl.secret.Aead(record_key).decrypt(ciphertext, record.encode()))
        except nacl.exceptions.CryptoError as exc:
            raise DecryptionFailed("stored record cannot be decrypted") from exc


def _wrap(kid: str, kek: bytes, record_key: bytes, record: str) -> bytes:
    sealed = nacl.secret.Aead(kek).encrypt(record_key, record.encode())
    return _WRAPPED + kid.encode("ascii") + bytes(sealed)


def _name_box(record_key: bytes) -> nacl.secret.Aead:
    """A key of its own for names, derived from the record key (which also drives the
    record's blob stream: one key, one use)."""
    subkey = nacl.hash.blake2b(
        b"", key=record_key, person=b"exchange-name", digest_size=KEY_BYTES,
        encoder=nacl.encoding.RawEncoder,
    )  # fmt: skip
    return nacl.secret.Aead(subkey)


def seal_name(record_key: bytes, name: str, *, record: str) -> bytes:
    """A name a user typed about a record (a filename), sealed with the record's key."""
    return bytes(_name_box(record_key).encrypt(name.encode(), f"name:{record}".encode()))


def open_name(record_key: bytes, sealed: bytes, *, record: str) -> str:
    try:
        return bytes(_name_box(record_key).decrypt(sealed, f"name:{record}".encode())).decode()
    except (nacl.exceptions.CryptoError, UnicodeDecodeError) as exc:
        raise DecryptionFailed("stored name cannot be decrypted") from exc


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
