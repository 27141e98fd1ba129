"""Signed webhook calls (docs/DEADLINES.md).

A webhook body is signed like every other object of the protocol, under its own
``ctx``: the node's Ed25519 key signs ``JCS({"ctx": "exchange/webhook/v1",
"body_sha256": hex SHA-256 of the body bytes})``, so a webhook signature is valid for
nothing else (an envelope, a receipt, a peer call), and no other signature of the node
is valid as a webhook's. A receiver hashes the body it got and checks the signature
against the key the directory publishes for the calling authority.
"""

from __future__ import annotations

from .canonical import b64d, b64e, canonical_json, sha256_hex
from .directory import Authority
from .errors import BadSignature, Malformed
from .keys import SigningKeyPair, verify_signature

SIGNATURE_HEADER = "X-Exchange-Signature"
AUTHORITY_HEADER = "X-Exchange-Authority"
CTX = "exchange/webhook/v1"


def signing_input(body: bytes) -> bytes:
    """The bytes a webhook signature covers: the ctx and the SHA-256 of the body."""
    return canonical_json({"ctx": CTX, "body_sha256": sha256_hex(body)})


def signature_header(key: SigningKeyPair, body: bytes) -> str:
    """``ed25519 key_id=<id> sig=<base64>``, the value of ``X-Exchange-Signature``."""
    return f"ed25519 key_id={key.public.key_id} sig={b64e(key.sign(signing_input(body)))}"


def verify_webhook(header: str, body: bytes, authority: Authority) -> None:
    """Raise unless ``header`` is a webhook signature of ``body`` by one of the
    authority's published signing keys (``malformed``, ``bad_signature``,
    ``expired_key`` for a verify-only key, ``key_revoked``)."""
    parts = header.split(" ")
    if len(parts) != 3 or parts[0] != "ed25519":
        raise Malformed("not an ed25519 webhook signature")
    key_id, sig = parts[1].removeprefix("key_id="), parts[2].removeprefix("sig=")
    if key_id == parts[1] or sig == parts[2]:
        raise Malformed("the webhook signature names no key_id or sig")
    key = authority.signing_key(key_id)
    if key is None:
        raise BadSignature("the webhook is signed by a key the directory does not publish")
    # a webhook signature carries no signed time: a verify-only or revoked key is
    # refused outright (expired_key, key_revoked)
    key.require_signs_at(key.revoked_at or key.retired_at or key.not_after)
    verify_signature(key.public, signing_input(body), b64d(sig, field="sig"))
