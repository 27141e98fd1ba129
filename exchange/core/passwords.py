"""Password hashing with Argon2id (libsodium via PyNaCl ``pwhash``)."""

from __future__ import annotations

import nacl.exceptions
import nacl.pwhash

MAX_PASSWORD_BYTES = 1024
MIN_PASSWORD_CHARS = 12


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_CHARS:
        raise ValueError(f"passwords must have at least {MIN_PASSWORD_CHARS} characters")
    return nacl.pwhash.argon2id.str(password.encode()).decode("ascii")


def verify_password(stored_hash: str, password: str) -> bool:
    """Constant-time check (libsodium); False for any mismatch or damaged hash."""
    data = password.encode()
    if len(data) > MAX_PASSWORD_BYTES:
        return False
    try:
        return bool(nacl.pwhash.verify(stored_hash.encode("ascii"), data))
    except (nacl.exceptions.InvalidkeyError, nacl.exceptions.CryptoError, ValueError):
        return False


# Verified against when a username does not exist, so the reply takes as long
# as for a real user and does not reveal which usernames exist.
DUMMY_HASH = nacl.pwhash.argon2id.str(b"exchange-dummy-password").decode("ascii")
