"""The envelope: Exchange's wire format for one message between authorities.

See docs/PROTOCOL.md. ``seal`` builds an envelope; ``open_`` checks it in
this order and fails with one stable code at the first problem:

1. size (``too_large``), canonical bytes and shape (``malformed``);
2. addressed to us (``wrong_recipient``), sender and its key in the
   directory (``unknown_sender``), sender key valid now (``expired_key``);
3. the outer signature over header and ciphertext (``bad_signature``),
   so forged or altered envelopes are refused before any decryption;
4. our encryption key named in the header exists and is valid
   (``wrong_recipient`` / ``expired_key``); decryption;
5. the inner header equals the outer one and the inner signature, the
   sender's evidence signature over header and content, verifies.

Version 2 adds ``log_size`` to the header: the sender's audit log size when it
sealed, inside both signatures, so every peer holds the log's own signed word of
how long it was (a later, smaller checkpoint shows a frozen or forked log). A v1
header still parses (evidence documents stored before v2 stay checkable), but
``open_`` refuses a v1 envelope (``unsupported_version``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from .canonical import (
    JsonObject,
    b64_json,
    b64d,
    canonical_json,
    canonical_members,
    format_time,
    loads_canonical,
    loads_object,
    parse_time,
    sha256_hex,
)
from .directory import Authority, Directory
from .errors import (
    BadSignature,
    DecryptionFailed,
    ExpiredKey,
    Malformed,
    TooLarge,
    UnknownSender,
    UnsupportedVersion,
    WrongRecipient,
)
from .keys import KeyRing, PublicKey, SigningKeyPair, seal_to, verify_signature

VERSION = 2
MESSAGE_TYPES = (
    "request",
    "acknowledgement",
    "response",
    "rejection",
    # the conversation (issue 16; core.lifecycle.MESSAGE_TYPES says who sends which)
    "clarification_request",
    "clarification",
    "partial_response",
    "transfer",
    "withdrawal",
    "reminder",
    "consent_request",
    "consent",
    # sharing a case (core/sharing.py)
    "case_invitation",
    "case_acceptance",
    "case_membership",
    "case_departure",
)
MSG_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{7,63}$")
MAX_ENVELOPE_BYTES = 2 * 1024 * 1024
# Accept envelopes created up to this far in the future (clock skew between nodes).
MAX_CLOCK_SKEW = timedelta(minutes=5)

_OUTER_CTX = "exchange/envelope/outer/v1"
_INNER_CTX = "exchange/envelope/content/v1"
_INNER_CTX_JSON = canonical_json(_INNER_CTX)
_OUTER_CTX_JSON = canonical_json(_OUTER_CTX)
_VERSION_JSON = canonical_json(VERSION)
_V1_HEADER_FIELDS = frozenset(
    {
        "v",
        "type",
        "msg_id",
        "sender",
        "sender_key_id",
        "recipient",
        "recipient_key_id",
        "created_at",
    }
)
_HEADER_FIELDS = _V1_HEADER_FIELDS | {"log_size"}
MAX_LOG_SIZE = 2**53  # an exact JSON integer everywhere


@dataclass(frozen=True)
class Header:
    type: str
    msg_id: str
    sender: str
    sender_key_id: str
    recipient: str
    recipient_key_id: str
    created_at: datetime
    log_size: int | None = None  # the sender's audit log size when it sealed (v2)

    @property
    def version(self) -> int:
        return 1 if self.log_size is None else VERSION

    def to_json(self) -> JsonObject:
        doc: JsonObject = {
            "v": self.version,
            "type": self.type,
            "msg_id": self.msg_id,
            "sender": self.sender,
            "sender_key_id": self.sender_key_id,
            "recipient": self.recipient,
            "recipient_key_id": self.recipient_key_id,
            "created_at": format_time(self.created_at),
        }
        if self.log_size is not None:
            doc["log_size"] = self.log_size
        return doc

    @classmethod
    def from_json(cls, data: object) -> Header:
        if not isinstance(data, dict) or data.get("v") not in (1, VERSION):
            raise Malformed(f"header must be an object of version 1 or {VERSION}")
        fields = _V1_HEADER_FIELDS if data["v"] == 1 else _HEADER_FIELDS
        if set(data) != fields:
            raise Malformed("header must have exactly the fields " + ", ".join(sorted(fields)))
        log_size = data.get("log_size")
        if data["v"] == VERSION and (
            not isinstance(log_size, int)
            or isinstance(log_size, bool)
            or not 0 <= log_size <= MAX_LOG_SIZE
        ):
            raise Malformed("log_size must be an integer from 0")
        if data["type"] not in MESSAGE_TYPES:
            raise Malformed("unknown message type")
        if not isinstance(data["msg_id"], str) or not MSG_ID_RE.match(data["msg_id"]):
            raise Malformed("msg_id must be 8-64 characters of A-Z a-z 0-9 . _ -")
        for name in ("sender", "sender_key_id", "recipient", "recipient_key_id"):
            if not isinstance(data[name], str) or not 0 < len(data[name]) <= 64:
                raise Malformed(f"{name} must be a short string")
        return cls(
            type=data["type"],
            msg_id=data["msg_id"],
            sender=data["sender"],
            sender_key_id=data["sender_key_id"],
            recipient=data["recipient"],
            recipient_key_id=data["recipient_key_id"],
            created_at=parse_time(data["created_at"], field="created_at"),
            log_size=log_size,
        )


@dataclass(frozen=True)
class SealedEnvelope:
    """``seal``'s result: the envelope, the canonical bytes of the content it carries
    (the sender stores those, encrypted at rest, without encoding the content again),
    and the evidence document sealed inside (header, content, evidence signature),
    whose hash the recipient's receipt must name."""

    data: bytes
    content_json: bytes
    evidence_json: bytes


@dataclass(frozen=True)
class Opened:
    """A verified, decrypted envelope."""

    header: Header
    content: JsonObject
    envelope_sha256: str
    # The sender's signature over header and content: evidence a third party can check
    # with ``verify_evidence`` once it holds the decrypted message and the directory.
    evidence_signature: bytes
    content_json: bytes  # the content's canonical bytes, as signed
    # The evidence document in its canonical bytes (what ``seal`` encrypted): its hash
    # goes in the receipt, and a third party checks it with ``open_evidence``.
    evidence_json: bytes
    header_json: bytes  # the header's canonical bytes, as signed (cut from the envelope's)


def seal(
    content: JsonObject,
    *,
    msg_type: str,
    msg_id: str,
    sender_id: str,
    sender_key: SigningKeyPair,
    recipient: Authority,
    now: datetime,
    log_size: int,
) -> SealedEnvelope:
    """Sign, encrypt to ``recipient``'s current key, sign again: the envelope's bytes
    (``.data``) and the content's canonical bytes, for the sender's own copy.
    ``log_size`` is the sender's audit log size now (signed in the header)."""
    enc_key = recipient.current_encryption_key(now)
    if enc_key is None:
        raise ExpiredKey(f"{recipient.authority_id} has no valid encryption key in the directory")
    header = Header(
        type=msg_type,
        msg_id=msg_id,
        sender=sender_id,
        sender_key_id=sender_key.public.key_id,
        recipient=recipient.authority_id,
        recipient_key_id=enc_key.key_id,
        created_at=now,
        log_size=log_size,
    )
    header_json = header.to_json()
    Header.from_json(header_json)  # refuse to emit what we would reject
    # The header and the content are encoded once each and spliced (canonical_members)
    # into both signing inputs, the inner document and the envelope: the same bytes as
    # encoding each whole, as the tests check, at a third of the cost for a large request.
    header_bytes, content_bytes = canonical_json(header_json), canonical_json(content)
    evidence = sender_key.sign(_inner_signing_bytes(header_bytes, content_bytes))
    inner = _evidence_document(header_bytes, content_bytes, evidence)
    ciphertext = seal_to(enc_key.public, inner)
    outer_sig = sender_key.sign(_outer_signing_bytes(header_bytes, ciphertext))
    data = canonical_members(
        {
            "v": str(header.version).encode(),
            "header": header_bytes,
            "ciphertext": b64_json(ciphertext),
            "signature": b64_json(outer_sig),
        }
    )
    if len(data) > MAX_ENVELOPE_BYTES:
        raise TooLarge(f"envelope is larger than {MAX_ENVELOPE_BYTES} bytes")
    return SealedEnvelope(data, content_bytes, inner)


def parse_header(
    data: bytes, *, max_bytes: int = MAX_ENVELOPE_BYTES
) -> tuple[Header, bytes, bytes]:
    """Shape checks only: header, ciphertext, outer signature. No trust implied."""
    if len(data) > max_bytes:
        raise TooLarge(f"envelope is larger than {max_bytes} bytes")
    obj = loads_canonical(data, max_depth=8, what="envelope")
    if set(obj) != {"v", "header", "ciphertext", "signature"}:
        raise Malformed(f"envelope must be {{v: {VERSION}, header, ciphertext, signature}}")
    header = Header.from_json(obj["header"])
    if obj["v"] != header.version:
        raise Malformed("the envelope's version is not its header's")
    ciphertext = b64d(obj["ciphertext"], field="ciphertext")
    signature = b64d(obj["signature"], field="signature", length=64)
    return header, ciphertext, signature


def open_(
    data: bytes,
    *,
    directory: Directory,
    me: str,
    keys: KeyRing,
    now: datetime,
    max_bytes: int = MAX_ENVELOPE_BYTES,
) -> Opened:
    header, ciphertext, signature = parse_header(data, max_bytes=max_bytes)
    if header.log_size is None:
        raise UnsupportedVersion(
            f"envelope v1 carries no log_size: the sender must run envelope v{VERSION}"
        )
    if header.recipient != me:
        raise WrongRecipient("envelope is addressed to another authority")
    sender_key = sender_public_key(directory, header)
    sender_key.require_valid_at(now)
    sender_key.require_signs_at(header.created_at)
    if header.created_at > now + MAX_CLOCK_SKEW:
        raise Malformed("created_at is in the future")
    header_bytes = _header_bytes(data, ciphertext, signature)
    verify_signature(sender_key.public, _outer_signing_bytes(header_bytes, ciphertext), signature)
    enc = keys.encryption_by_id(header.recipient_key_id)
    if enc is None:
        raise WrongRecipient("envelope is encrypted to a key that is not ours")
    enc.public.require_valid_at(now)
    try:
        inner = loads_object(enc.open_sealed(ciphertext), max_depth=12)
    except Malformed as exc:
        raise DecryptionFailed("decrypted content is malformed") from exc
    header_json = header.to_json()
    if set(inner) != {"header", "content", "signature"} or inner["header"] != header_json:
        raise BadSignature("inner header does not match the signed outer header")
    content = inner["content"]
    if not isinstance(content, dict):
        raise Malformed("content must be an object")
    evidence = b64d(inner["signature"], field="signature", length=64)
    content_bytes = canonical_json(content)
    inner_header = _inner_header_bytes(inner["header"], header_json, header_bytes)
    signed = _inner_signing_bytes(inner_header, content_bytes)
    verify_signature(sender_key.public, signed, evidence)
    document = _evidence_document(inner_header, content_bytes, evidence)
    return Opened(
        header, content, sha256_hex(data), evidence, content_bytes, document, header_bytes
    )


def _header_bytes(data: bytes, ciphertext: bytes, signature: bytes) -> bytes:
    """The v2 header's canonical bytes, cut out of the envelope's own.

    ``data`` is canonical (``parse_header``) with exactly these four members, the
    base64 strings spelt canonically and ``v`` the header's version: so it is
    ``{"ciphertext":"...","header":<the header's canonical bytes>,"signature":"...","v":2}``
    and the header needs no encoding of its own. Anything else is refused.
    """
    head = b'{"ciphertext":' + b64_json(ciphertext) + b',"header":'
    tail = b',"signature":' + b64_json(signature) + b',"v":' + _VERSION_JSON + b"}"
    if not (data.startswith(head) and data.endswith(tail)):
        raise Malformed("envelope bytes are not canonical JSON (RFC 8785)")  # fail closed
    return data[len(head) : len(data) - len(tail)]


def _inner_header_bytes(inner: JsonObject, header_json: JsonObject, header_bytes: bytes) -> bytes:
    """The inner header's canonical bytes: the outer header's when the two hold the same
    values of the same types (``==`` alone takes ``true`` for ``1``, another spelling)."""
    if all(type(inner[name]) is type(value) for name, value in header_json.items()):
        return header_bytes
    return canonical_json(inner)


def sender_public_key(directory: Directory, header: Header) -> PublicKey:
    authority = directory.get(header.sender)
    if authority is None:
        raise UnknownSender("sender is not in the directory")
    key = authority.signing_key(header.sender_key_id)
    if key is None:
        raise UnknownSender("sender key is not in the directory")
    return key


def verify_evidence(header: Header, content: JsonObject, signature: bytes, key: PublicKey) -> None:
    """Third-party check that ``header.sender`` signed ``content`` for ``header.recipient``."""
    verify_signature(key.public, _inner_signing_input(header.to_json(), content), signature)


def _evidence_document(header: bytes, content: bytes, signature: bytes) -> bytes:
    return canonical_members(
        {"header": header, "content": content, "signature": b64_json(signature)}
    )


def _outer_signing_input(header: JsonObject, ciphertext: bytes) -> bytes:
    return canonical_json(
        {"ctx": _OUTER_CTX, "header": header, "ciphertext_sha256": sha256_hex(ciphertext)}
    )


def _outer_signing_bytes(header: bytes, ciphertext: bytes) -> bytes:
    """``_outer_signing_input`` with the header's canonical bytes spliced in (a hex
    digest is its own JSON string)."""
    digest = b'"' + sha256_hex(ciphertext).encode() + b'"'
    return canonical_members(
        {"ctx": _OUTER_CTX_JSON, "header": header, "ciphertext_sha256": digest}
    )


def _inner_signing_input(header: JsonObject, content: JsonObject) -> bytes:
    return _inner_signing_bytes(canonical_json(header), canonical_json(content))


def _inner_signing_bytes(header: bytes, content: bytes) -> bytes:
    return canonical_members({"ctx": _INNER_CTX_JSON, "header": header, "content": content})
