"""Signed receipts: the receiving authority's non-repudiable proof that it
accepted an envelope (message id, envelope hash, receive time, receiver) and what
it held once it opened it: the hash of the sender-signed evidence document (the
decrypted inner document: header, content, evidence signature), which the sender
computes from what it sealed, so a receipt for other content is refused.

A receipt is signed alone, or, for the envelopes of one transaction, as a batch:
the receiver signs once the root of an RFC 9162 Merkle tree over the receipts'
canonical bodies, and each receipt carries its index, the tree size, the root and
its inclusion proof. Each stays a self-contained proof that a third party can
check; the receiver makes one signature per transaction and the sender checks one.

Version 3 adds ``log_size``: the receiver's audit log size when it signed, so the
sender holds the receiver's own signed word of how long its log was (a later, smaller
checkpoint shows a frozen or forked log). A v2 receipt still parses (receipts kept
before v3 stay checkable); the delivery worker takes only v3.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from functools import cached_property

from .canonical import (
    JsonObject,
    b64_json,
    b64d,
    b64e,
    canonical_json,
    canonical_members,
    format_time,
    loads_canonical,
    parse_time,
)
from .directory import Directory
from .errors import BadSignature, BadTime, Malformed, UnknownSender, UnsupportedVersion
from .keys import SigningKeyPair, verify_signature
from .merkle import (
    HASH_LENGTH,
    MemoryHashStore,
    ProofError,
    inclusion_proof,
    leaf_hash,
    root,
    verify_inclusion,
)
from .peer_auth import MAX_SKEW

VERSION = 3
_CTX = "exchange/receipt/v2"
_BATCH_CTX = "exchange/receipt-batch/v2"
_CTX_JSON = canonical_json(_CTX)
MAX_BATCH = 100_000
_V2_FIELDS = frozenset(
    {
        "v",
        "msg_id",
        "sender",
        "recipient",
        "envelope_sha256",
        "evidence_sha256",
        "received_at",
        "key_id",
    }
)
_FIELDS = _V2_FIELDS | {"log_size"}
MAX_LOG_SIZE = 2**53


@dataclass(frozen=True)
class Batch:
    """Where a receipt sits in the signed tree of its transaction's receipts."""

    index: int
    size: int
    path: tuple[bytes, ...]
    root: bytes

    def to_json(self) -> JsonObject:
        return {
            "index": self.index,
            "size": self.size,
            "path": [b64e(h) for h in self.path],
            "root": b64e(self.root),
        }


@dataclass(frozen=True)
class Receipt:
    msg_id: str
    sender: str
    recipient: str
    envelope_sha256: str
    evidence_sha256: str
    received_at: datetime
    key_id: str
    signature: bytes
    batch: Batch | None = None
    log_size: int | None = None  # the receiver's audit log size when it signed (v3)

    def body(self) -> JsonObject:
        body: JsonObject = {
            "v": 2 if self.log_size is None else VERSION,
            "msg_id": self.msg_id,
            "sender": self.sender,
            "recipient": self.recipient,
            "envelope_sha256": self.envelope_sha256,
            "evidence_sha256": self.evidence_sha256,
            "received_at": format_time(self.received_at),
            "key_id": self.key_id,
        }
        if self.log_size is not None:
            body["log_size"] = self.log_size
        return body

    @cached_property
    def body_json(self) -> bytes:
        """``body()``'s canonical bytes, encoded once for the receipt's whole way (signed,
        sent, checked, stored) and spliced into what holds them."""
        return canonical_json(self.body())

    def to_bytes(self) -> bytes:
        """``canonical_json(self.to_json())``, with ``body_json`` spliced in."""
        members = {"receipt": self.body_json, "signature": b64_json(self.signature)}
        if self.batch is not None:
            members["batch"] = canonical_json(self.batch.to_json())
        return canonical_members(members)

    def to_json(self) -> JsonObject:
        doc = {"receipt": self.body(), "signature": b64e(self.signature)}
        if self.batch is not None:
            doc["batch"] = self.batch.to_json()
        return doc


def issue_receipt(
    *,
    msg_id: str,
    sender: str,
    recipient: str,
    envelope_sha256: str,
    evidence_sha256: str,
    received_at: datetime,
    key: SigningKeyPair,
    log_size: int,
) -> Receipt:
    """One receipt, signed alone."""
    fields = [(msg_id, sender, envelope_sha256, evidence_sha256)]
    return issue_receipts(
        fields, recipient=recipient, received_at=received_at, key=key, log_size=log_size
    )[0]


def issue_receipts(
    fields: list[tuple[str, str, str, str]],
    *,
    recipient: str,
    received_at: datetime,
    key: SigningKeyPair,
    log_size: int,
) -> list[Receipt]:
    """Receipts for ``(msg_id, sender, envelope_sha256, evidence_sha256)`` each: one
    alone is signed as such; several are signed once, as a batch (see the module's
    docstring). ``log_size``: our audit log's size now."""
    key_id = key.public.key_id
    unsigned = [
        Receipt(
            msg_id, sender, recipient, digest, evidence, received_at, key_id, b"", None, log_size
        )
        for msg_id, sender, digest, evidence in fields
    ]
    if len(unsigned) == 1:
        (one,) = unsigned
        return [_signed(one, key.sign(_signing_bytes(one.body_json)), None)]
    if len(unsigned) > MAX_BATCH:
        raise ValueError(f"at most {MAX_BATCH} receipts in a batch")
    tree = MemoryHashStore()
    for receipt in unsigned:
        tree.append(receipt.body_json)
    size = len(unsigned)
    top = root(tree, size)
    signature = key.sign(_batch_signing_input(top, size))
    return [
        _signed(r, signature, Batch(i, size, tuple(inclusion_proof(tree, i, size)), top))
        for i, r in enumerate(unsigned)
    ]


def _signed(unsigned: Receipt, signature: bytes, batch: Batch | None) -> Receipt:
    receipt = replace(unsigned, signature=signature, batch=batch)
    # the body names neither signature nor batch: its bytes carry over
    receipt.__dict__["body_json"] = unsigned.body_json
    return receipt


def parse_receipt(data: bytes | JsonObject) -> Receipt:
    """A receipt from its bytes, which must be canonical, or from the object a
    canonical document held (its base64 is checked canonical here either way)."""
    obj = loads_canonical(data, what="receipt") if isinstance(data, bytes) else data
    body = obj.get("receipt")
    keys = set(obj)
    if isinstance(body, dict) and type(body.get("v")) is int and body["v"] not in (2, VERSION):
        # a v1 receipt names no evidence document: never read as proof of content
        raise UnsupportedVersion(f"receipt version {body['v']} is not spoken here (v{VERSION})")
    if (
        keys not in ({"receipt", "signature"}, {"receipt", "signature", "batch"})
        or not isinstance(body, dict)
        or set(body) != (_V2_FIELDS if body.get("v") == 2 else _FIELDS)
    ):
        raise Malformed("receipt must be {receipt: {...}, signature[, batch]}")
    if type(body["v"]) is not int:
        raise Malformed("receipt version must be a number")
    log_size = body.get("log_size")
    if body["v"] == VERSION and (type(log_size) is not int or not 0 <= log_size <= MAX_LOG_SIZE):
        raise Malformed("receipt log_size must be an integer from 0")
    for name in ("msg_id", "sender", "recipient", "envelope_sha256", "evidence_sha256", "key_id"):
        if not isinstance(body[name], str):
            raise Malformed(f"receipt {name} must be a string")
    return Receipt(
        msg_id=body["msg_id"],
        sender=body["sender"],
        recipient=body["recipient"],
        envelope_sha256=body["envelope_sha256"],
        evidence_sha256=body["evidence_sha256"],
        received_at=parse_time(body["received_at"], field="received_at"),
        key_id=body["key_id"],
        signature=b64d(obj["signature"], field="signature", length=64),
        batch=_parse_batch(obj["batch"]) if "batch" in obj else None,
        log_size=log_size,
    )


def _parse_batch(data: object) -> Batch:
    if not isinstance(data, dict) or set(data) != {"index", "size", "path", "root"}:
        raise Malformed("receipt batch must be {index, size, path, root}")
    index, size, path = data["index"], data["size"], data["path"]
    if (
        not isinstance(index, int)
        or not isinstance(size, int)
        or isinstance(index, bool)
        or isinstance(size, bool)
        or not 0 <= index < size <= MAX_BATCH
    ):
        raise Malformed("receipt batch needs 0 <= index < size <= 100000")
    if not isinstance(path, list) or len(path) > 64:
        raise Malformed("receipt batch path must be a list of hashes")
    return Batch(
        index,
        size,
        tuple(b64d(h, field="path", length=HASH_LENGTH) for h in path),
        b64d(data["root"], field="root", length=HASH_LENGTH),
    )


def verify_receipt(
    receipt: Receipt,
    *,
    directory: Directory,
    expected_msg_id: str,
    expected_sender: str,
    expected_recipient: str,
    expected_envelope_sha256: str,
    expected_evidence_sha256: str,
    verified_roots: set[tuple[str, bytes, int, bytes]] | None = None,
) -> None:
    """Check a receipt is for exactly this envelope and this evidence document (what
    the recipient decrypted), and signed by the recipient.

    ``verified_roots`` remembers batch signatures already checked (the receipts of
    one transaction share one), so each is verified once.
    """
    expected = (
        expected_msg_id,
        expected_sender,
        expected_recipient,
        expected_envelope_sha256,
        expected_evidence_sha256,
    )
    got = (
        receipt.msg_id,
        receipt.sender,
        receipt.recipient,
        receipt.envelope_sha256,
        receipt.evidence_sha256,
    )
    if got != expected:
        raise BadSignature("receipt does not match the envelope it answers")
    authority = directory.get(receipt.recipient)
    key = authority.signing_key(receipt.key_id) if authority else None
    if key is None:
        raise UnknownSender("receipt is signed with a key not in the directory")
    key.require_valid_at(receipt.received_at)
    key.require_signs_at(receipt.received_at)
    batch = receipt.batch
    if batch is None:
        verify_signature(key.public, _signing_bytes(receipt.body_json), receipt.signature)
        return
    leaf = leaf_hash(receipt.body_json)
    try:
        verify_inclusion(leaf, batch.index, batch.size, batch.path, batch.root)
    except ProofError as exc:
        raise BadSignature("receipt is not in the batch its signature covers") from exc
    seen = (receipt.key_id, batch.root, batch.size, receipt.signature)
    if verified_roots is not None and seen in verified_roots:
        return
    verify_signature(key.public, _batch_signing_input(batch.root, batch.size), receipt.signature)
    if verified_roots is not None:
        verified_roots.add(seen)


def check_signed_time(at: datetime, *, sent_at: datetime, now: datetime, what: str) -> None:
    """A receipt's ``received_at`` or a refusal's ``refused_at`` is the peer's word for
    when our envelope reached it. Held to our own clock, within the skew allowed between
    nodes (``MAX_SKEW``): not before we sealed the envelope (``sent_at``), not after its
    answer reached us (``now``), so a receiver cannot backdate or postdate what it
    acknowledged. Not "within the skew of now": an answer lost on its way back is asked
    for again, and the receiver answers with the receipt it issued the first time, whose
    time is then rightly older. ``BadTime`` otherwise."""
    if at < sent_at - MAX_SKEW:
        raise BadTime(f"{what} is before the envelope was sealed")
    if at > now + MAX_SKEW:
        raise BadTime(f"{what} is later than the time its answer reached us")


def _signing_bytes(body: bytes) -> bytes:
    """``canonical_json({"ctx": _CTX, "receipt": body})`` with the body's canonical bytes
    spliced in."""
    return canonical_members({"ctx": _CTX_JSON, "receipt": body})


def _batch_signing_input(tree_root: bytes, size: int) -> bytes:
    return canonical_json({"ctx": _BATCH_CTX, "root": b64e(tree_root), "size": size})
