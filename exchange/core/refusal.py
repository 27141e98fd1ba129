"""Signed refusals: the receiving authority's non-repudiable statement that it refused
an envelope, and why (non-delivery evidence, as e-CODEX/AS4 calls it).

A receiver signs a refusal only for an envelope it could attribute to the calling peer:
one whose outer and inner signatures verified, sent by the peer that called. Bytes it
could not attribute get an unsigned error code alone, so a refusal never says anything
about an envelope that someone other than its sender made up.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from .canonical import JsonObject, b64d, b64e, canonical_json, format_time, loads_object, parse_time
from .directory import Directory
from .errors import BadSignature, Malformed, UnknownSender
from .keys import SigningKeyPair, verify_signature

_CTX = "exchange/refusal/v1"
_FIELDS = frozenset(
    {"v", "code", "msg_id", "sender", "recipient", "envelope_sha256", "refused_at", "key_id"}
)


@dataclass(frozen=True)
class Refusal:
    code: str
    msg_id: str
    sender: str
    recipient: str
    envelope_sha256: str
    refused_at: datetime
    key_id: str
    signature: bytes

    def body(self) -> JsonObject:
        return {
            "v": 1,
            "code": self.code,
            "msg_id": self.msg_id,
            "sender": self.sender,
            "recipient": self.recipient,
            "envelope_sha256": self.envelope_sha256,
            "refused_at": format_time(self.refused_at),
            "key_id": self.key_id,
        }

    def to_json(self) -> JsonObject:
        return {"refusal": self.body(), "signature": b64e(self.signature)}

    def to_bytes(self) -> bytes:
        return canonical_json(self.to_json())


def issue_refusal(
    *,
    code: str,
    msg_id: str,
    sender: str,
    recipient: str,
    envelope_sha256: str,
    refused_at: datetime,
    key: SigningKeyPair,
) -> Refusal:
    """A refusal of one envelope, signed alone (refusals are rare: no batch)."""
    unsigned = Refusal(
        code, msg_id, sender, recipient, envelope_sha256, refused_at, key.public.key_id, b""
    )
    signature = key.sign(_signing_input(unsigned.body()))
    return replace(unsigned, signature=signature)


def parse_refusal(data: bytes | JsonObject) -> Refusal:
    obj = loads_object(data) if isinstance(data, bytes) else data
    body = obj.get("refusal")
    if set(obj) != {"refusal", "signature"} or not isinstance(body, dict) or set(body) != _FIELDS:
        raise Malformed("refusal must be {refusal: {...}, signature}")
    if body["v"] != 1:
        raise Malformed("unsupported refusal version")
    for name in ("code", "msg_id", "sender", "recipient", "envelope_sha256", "key_id"):
        if not isinstance(body[name], str):
            raise Malformed(f"refusal {name} must be a string")
    return Refusal(
        code=body["code"],
        msg_id=body["msg_id"],
        sender=body["sender"],
        recipient=body["recipient"],
        envelope_sha256=body["envelope_sha256"],
        refused_at=parse_time(body["refused_at"], field="refused_at"),
        key_id=body["key_id"],
        signature=b64d(obj["signature"], field="signature", length=64),
    )


def verify_refusal(
    refusal: Refusal,
    *,
    directory: Directory,
    expected_code: str,
    expected_msg_id: str,
    expected_sender: str,
    expected_recipient: str,
    expected_envelope_sha256: str,
) -> None:
    """Check a refusal is for exactly this envelope, with this code, signed by the
    recipient with a key valid when it refused."""
    expected = (
        expected_code,
        expected_msg_id,
        expected_sender,
        expected_recipient,
        expected_envelope_sha256,
    )
    got = (refusal.code, refusal.msg_id, refusal.sender, refusal.recipient, refusal.envelope_sha256)
    if got != expected:
        raise BadSignature("refusal does not match the envelope it answers")
    authority = directory.get(refusal.recipient)
    key = authority.signing_key(refusal.key_id) if authority else None
    if key is None:
        raise UnknownSender("refusal is signed with a key not in the directory")
    key.require_valid_at(refusal.refused_at)
    verify_signature(key.public, _signing_input(refusal.body()), refusal.signature)


def _signing_input(body: JsonObject) -> bytes:
    return canonical_json({"ctx": _CTX, "refusal": body})
