"""Proof of possession for directory entries: the entry's self-signature.

Each authority signs its own entry with its current signing key:
``Ed25519(JCS({ctx: "exchange/directory-entry/v1", entry}))`` where ``entry`` is the
entry as nodes read it (``Authority.to_json()``) without ``self_signature``. The key
must be one of the entry's own signing keys, valid and neither retired nor revoked
at the moment checked (the directory's issue time), and the only such key: every
other signing key of the entry is retired or revoked by then. So the operator cannot
publish a key whose private half the authority never held beside the authority's
own, nor change an entry behind the authority's back, and a mistyped key is caught
before publication.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from .canonical import JsonObject, b64d, b64e, canonical_json, format_time
from .errors import BadSignature, Malformed
from .keys import SIGNATURE_LENGTH, PublicKey, SigningKeyPair, verify_signature

ENTRY_CTX = "exchange/directory-entry/v1"


class EntrySignatureInvalid(Exception):
    """Why an entry's self-signature is refused (the caller names the entry)."""


@dataclass(frozen=True)
class EntrySignature:
    key_id: str
    sig: bytes

    def to_json(self) -> JsonObject:
        return {"key_id": self.key_id, "sig": b64e(self.sig)}

    @classmethod
    def from_json(cls, data: object) -> EntrySignature:
        if not isinstance(data, dict) or set(data) != {"key_id", "sig"}:
            raise Malformed("self_signature must be {key_id, sig}")
        key_id = data["key_id"]
        if not isinstance(key_id, str) or not key_id.startswith("ed25519:") or len(key_id) > 40:
            raise Malformed("self_signature.key_id must be an ed25519 key id")
        return cls(key_id, b64d(data["sig"], field="self_signature.sig", length=SIGNATURE_LENGTH))


def entry_signing_input(unsigned_entry: JsonObject) -> bytes:
    return canonical_json({"ctx": ENTRY_CTX, "entry": unsigned_entry})


def sign_entry(unsigned_entry: JsonObject, pair: SigningKeyPair) -> EntrySignature:
    """The self-signature of ``unsigned_entry`` (which must list ``pair``'s public key)."""
    return EntrySignature(pair.public.key_id, pair.sign(entry_signing_input(unsigned_entry)))


def check_entry_signature(
    unsigned_entry: JsonObject,
    signature: EntrySignature | None,
    signing_keys: Sequence[PublicKey],
    *,
    at: datetime,
) -> None:
    """Raise ``EntrySignatureInvalid`` unless ``signature`` is by the one key of
    ``signing_keys`` that may sign at ``at`` and verifies over ``unsigned_entry``."""
    if signature is None:
        raise EntrySignatureInvalid("has no self-signature")
    key = next((k for k in signing_keys if k.key_id == signature.key_id), None)
    if key is None:
        raise EntrySignatureInvalid(f"is self-signed by {signature.key_id}, not one of its keys")
    usable = [k for k in signing_keys if k.valid_at(at) and k.signs_at(at)]
    if key not in usable:
        raise EntrySignatureInvalid(
            f"is self-signed by {key.key_id}, which may not sign at {format_time(at)}"
        )
    if len(usable) > 1:
        # otherwise a key the authority never held could sit beside its own: every other
        # signing key must be retired or revoked (what rotation does)
        raise EntrySignatureInvalid(
            f"has {len(usable)} signing keys that may sign at {format_time(at)}; only the"
            " self-signing key may (retire or revoke the others)"
        )
    try:
        verify_signature(key.public, entry_signing_input(unsigned_entry), signature.sig)
    except BadSignature:
        raise EntrySignatureInvalid("has a self-signature that does not verify") from None
