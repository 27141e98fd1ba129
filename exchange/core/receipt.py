"""Signed receipts: the receiving authority's non-repudiable proof that it
accepted an envelope (message id, envelope hash, receive time, receiver)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .canonical import b64d, b64e, canonical_json, format_time, loads_object, parse_time
from .directory import Directory
from .errors import BadSignature, Malformed, UnknownSender
from .keys import SigningKeyPair, verify_signature

_CTX = "exchange/receipt/v1"
_FIELDS = frozenset(
    {"v", "msg_id", "sender", "recipient", "envelope_sha256", "received_at", "key_id"}
)


@dataclass(frozen=True)
class Receipt:
    msg_id: str
    sender: str
    recipient: str
    envelope_sha256: str
    received_at: datetime
    key_id: str
    signature: bytes

    def body(self) -> dict[str, Any]:
        return {
            "v": 1,
            "msg_id": self.msg_id,
            "sender": self.sender,
            "recipient": self.recipient,
            "envelope_sha256": self.envelope_sha256,
            "received_at": format_time(self.received_at),
            "key_id": self.key_id,
        }

    def to_bytes(self) -> bytes:
        return canonical_json({"receipt": self.body(), "signature": b64e(self.signature)})

    def to_json(self) -> dict[str, Any]:
        return {"receipt": self.body(), "signature": b64e(self.signature)}


def issue_receipt(
    *,
    msg_id: str,
    sender: str,
    recipient: str,
    envelope_sha256: str,
    received_at: datetime,
    key: SigningKeyPair,
) -> Receipt:
    unsigned = Receipt(
        msg_id, sender, recipient, envelope_sha256, received_at, key.public.key_id, b""
    )
    signature = key.sign(_signing_input(unsigned.body()))
    return Receipt(**{**unsigned.__dict__, "signature": signature})


def parse_receipt(data: bytes | dict[str, Any]) -> Receipt:
    obj = loads_object(data) if isinstance(data, bytes) else data
    body = obj.get("receipt")
    if set(obj) != {"receipt", "signature"} or not isinstance(body, dict) or set(body) != _FIELDS:
        raise Malformed("receipt must be {receipt: {...}, signature}")
    if body["v"] != 1:
        raise Malformed("unsupported receipt version")
    for name in ("msg_id", "sender", "recipient", "envelope_sha256", "key_id"):
        if not isinstance(body[name], str):
            raise Malformed(f"receipt {name} must be a string")
    return Receipt(
        msg_id=body["msg_id"],
        sender=body["sender"],
        recipient=body["recipient"],
        envelope_sha256=body["envelope_sha256"],
        received_at=parse_time(body["received_at"], field="received_at"),
        key_id=body["key_id"],
        signature=b64d(obj["signature"], field="signature", length=64),
    )


def verify_receipt(
    receipt: Receipt,
    *,
    directory: Directory,
    expected_msg_id: str,
    expected_sender: str,
    expected_recipient: str,
    expected_envelope_sha256: str,
) -> None:
    """Check a receipt is for exactly this envelope and signed by the recipient."""
    expected = (expected_msg_id, expected_sender, expected_recipient, expected_envelope_sha256)
    got = (receipt.msg_id, receipt.sender, receipt.recipient, receipt.envelope_sha256)
    if got != expected:
        raise BadSignature("receipt does not match the envelope it answers")
    authority = directory.get(receipt.recipient)
    key = authority.signing_key(receipt.key_id) if authority else None
    if key is None:
        raise UnknownSender("receipt is signed with a key not in the directory")
    key.require_valid_at(receipt.received_at)
    verify_signature(key.public, _signing_input(receipt.body()), receipt.signature)


def _signing_input(body: dict[str, Any]) -> bytes:
    return canonical_json({"ctx": _CTX, "receipt": body})
