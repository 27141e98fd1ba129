"""Authentication of node-to-node HTTP calls (in the spirit of Matrix's X-Matrix header).

Every peer call carries ``X-Exchange-Auth: v=2;sender=..;key=..;ts=..;nonce=..;sig=..``,
an Ed25519 signature by the calling authority over the method, path, both
authority ids, the time (to the microsecond), a random nonce and the SHA-256 of
the body. The called node checks it in two steps:

1. ``check_header`` needs no body: shape, version, time within ``MAX_SKEW``,
   sender and key in the directory, key valid; the caller then asks its
   ``NonceCache`` whether the nonce was seen. Only then is the body read.
2. ``verify_body`` checks the signature over the body's hash; the caller then
   ``remember``s the nonce, so the same call is refused (``replay``) while its
   time is still inside the window.

A header signed the v1 way (no ``v``, whole seconds, no nonce) is refused with
``unsupported_version``, never read as v2.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from .canonical import b64d, b64e, canonical_json, format_time, parse_time, sha256_hex
from .directory import Directory
from .errors import ExpiredKey, Malformed, Replay, Unauthorized, UnknownSender, UnsupportedVersion
from .keys import PublicKey, SigningKeyPair, verify_signature

HEADER = "X-Exchange-Auth"
VERSION = 2
MAX_SKEW = timedelta(minutes=5)
# How long before its arrival a peer's follow-up may have been signed: the clock skew
# allowance plus a delivery held up by an outage (the default [delivery]
# give_up_after), so an answer queued while we were unreachable is not lost.
MAX_TRANSIT = timedelta(hours=72) + MAX_SKEW
MAX_HEADER_CHARS = 1024
# Nonces remembered per peer; beyond it the oldest goes and calls no newer than it
# are refused, so forgetting never lets a replay through.
MAX_NONCES_PER_PEER = 20_000
_CTX = "exchange/http/v2"
_FIELDS = frozenset({"v", "sender", "key", "ts", "nonce", "sig"})
_V1_FIELDS = frozenset({"sender", "key", "ts", "sig"})
_NONCE_RE = re.compile(r"^[0-9a-f]{32,64}$")
_SHAPE = f"{HEADER} must be v=2;sender=..;key=..;ts=..;nonce=..;sig=.."


@dataclass(frozen=True)
class CallAuth:
    """A peer call's header, checked up to the signature (which needs the body)."""

    sender: str
    key: PublicKey
    ts: datetime
    nonce: str
    signature: bytes
    signed_prefix: tuple[str, str, str]  # method, path, recipient as the caller signed them


def sign_call(
    *,
    method: str,
    path: str,
    sender: str,
    recipient: str,
    body: bytes = b"",
    key: SigningKeyPair,
    now: datetime,
    body_sha256: str | None = None,
    nonce: str | None = None,
) -> str:
    """``body_sha256`` instead of ``body`` for a streamed body whose hash is known; a
    fresh 128-bit nonce unless one is given."""
    ts = format_time(now)
    nonce = nonce or secrets.token_hex(16)
    digest = body_sha256 or sha256_hex(body)
    sig = key.sign(_signing_input(method, path, sender, recipient, ts, nonce, digest))
    key_id = key.public.key_id
    return f"v={VERSION};sender={sender};key={key_id};ts={ts};nonce={nonce};sig={b64e(sig)}"


def check_header(
    header: str | None,
    *,
    method: str,
    path: str,
    me: str,
    directory: Directory,
    now: datetime,
) -> CallAuth:
    """Everything about the call that needs no body, or raise (unauthorized, malformed,
    unsupported_version, unknown_sender, expired_key)."""
    if not header:
        raise Unauthorized(f"peer calls must carry {HEADER}")
    fields = _fields(header)
    if "v" not in fields and set(fields) == _V1_FIELDS:
        raise UnsupportedVersion(f"{HEADER} v1 is no longer accepted: sign calls as v2")
    if fields.get("v", "").isdigit() and fields["v"] != str(VERSION):
        raise UnsupportedVersion(f"{HEADER} version {fields['v'][:8]} is not supported")
    if set(fields) != _FIELDS or fields["v"] != str(VERSION):
        raise Malformed(_SHAPE)
    ts = parse_time(fields["ts"], field="ts")
    if abs(ts - now) > MAX_SKEW:
        raise Unauthorized("peer call time is outside the allowed clock skew")
    authority = directory.get(fields["sender"])
    key = authority.signing_key(fields["key"]) if authority else None
    if key is None:
        raise UnknownSender("calling authority or key is not in the directory")
    if not key.valid_at(now):
        raise ExpiredKey("calling key is expired")
    key.require_signs_at(ts)  # a verify-only or revoked key signs no new calls
    if not _NONCE_RE.fullmatch(fields["nonce"]):
        raise Malformed("nonce must be 32 to 64 lowercase hex digits")
    signature = b64d(fields["sig"], field="sig", length=64)
    prefix = (method.upper(), path, me)
    return CallAuth(fields["sender"], key, ts, fields["nonce"], signature, prefix)


def verify_body(auth: CallAuth, body_sha256: str) -> None:
    """The caller's signature over this call and a body of this SHA-256 (bad_signature)."""
    method, path, me = auth.signed_prefix
    signed = _signing_input(
        method, path, auth.sender, me, format_time(auth.ts), auth.nonce, body_sha256
    )
    verify_signature(auth.key.public, signed, auth.signature)


def _fields(header: str) -> dict[str, str]:
    if len(header) > MAX_HEADER_CHARS:
        raise Malformed(f"{HEADER} is too long")
    fields: dict[str, str] = {}
    for part in header.split(";"):
        name, equals, value = part.partition("=")
        if not equals or name in fields:
            raise Malformed(_SHAPE)
        fields[name] = value
    return fields


def _signing_input(
    method: str, path: str, sender: str, recipient: str, ts: str, nonce: str, body_sha256: str
) -> bytes:
    return canonical_json(
        {
            "ctx": _CTX,
            "method": method.upper(),
            "path": path,
            "sender": sender,
            "recipient": recipient,
            "ts": ts,
            "nonce": nonce,
            "body_sha256": body_sha256,
        }
    )


@dataclass
class _Seen:
    nonces: dict[str, datetime] = field(default_factory=dict)  # in the order remembered
    floor: datetime | None = None  # calls at or before this time are refused


class NonceCache:
    """The nonces of each peer's calls still inside the skew window: pure, clock-driven,
    bounded (expired entries go; beyond ``per_peer`` the oldest goes and raises the
    peer's floor). Only calls whose signature verified are remembered, so a stranger
    cannot flush a peer's nonces."""

    def __init__(self, *, window: timedelta = MAX_SKEW, per_peer: int = MAX_NONCES_PER_PEER):
        if per_peer < 1:
            raise ValueError("per_peer must be at least 1")
        self.window = window
        self.per_peer = per_peer
        self._peers: dict[str, _Seen] = {}

    def check(self, auth: CallAuth) -> None:
        """Raise ``Replay`` if this call was seen, or could have been and was forgotten."""
        seen = self._peers.get(auth.sender)
        if seen is None:
            return
        if auth.nonce in seen.nonces or (seen.floor is not None and auth.ts <= seen.floor):
            raise Replay("this peer call was already made (its nonce was seen)")

    def remember(self, auth: CallAuth, now: datetime) -> None:
        """Check again and remember: between ``check`` and here the body was read, and
        the same call may have been accepted meanwhile."""
        self.check(auth)
        seen = self._peers.setdefault(auth.sender, _Seen())
        seen.nonces[auth.nonce] = auth.ts
        horizon = now - self.window
        while seen.nonces:
            oldest = next(iter(seen.nonces))
            if seen.nonces[oldest] >= horizon:
                break  # remembered in about time order: the rest are younger
            del seen.nonces[oldest]
        while len(seen.nonces) > self.per_peer:
            oldest = next(iter(seen.nonces))
            ts = seen.nonces.pop(oldest)
            seen.floor = ts if seen.floor is None else max(seen.floor, ts)

    def remembered(self, sender: str) -> int:
        seen = self._peers.get(sender)
        return len(seen.nonces) if seen else 0
