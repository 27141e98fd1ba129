"""Authentication of node-to-node HTTP calls (in the spirit of Matrix's X-Matrix header).

Every peer call carries ``X-Exchange-Auth: sender=..;key=..;ts=..;sig=..``,
an Ed25519 signature by the calling authority over the method, path,
both authority ids, the time and the SHA-256 of the body. The called node
checks it against the directory, so it knows which peer is calling before
it reads any envelope; a stale or future ``ts`` (beyond the allowed skew)
is refused, which bounds replays of whole calls (replayed envelopes are
harmless anyway: delivery is idempotent).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from .canonical import b64d, b64e, canonical_json, sha256_hex
from .directory import Directory
from .errors import ExpiredKey, Malformed, Unauthorized, UnknownSender
from .keys import SigningKeyPair, verify_signature

HEADER = "X-Exchange-Auth"
MAX_SKEW = timedelta(minutes=5)
# How long before its arrival a peer's follow-up may have been signed: the clock skew
# allowance plus a delivery held up by an outage (the default [delivery]
# give_up_after), so an answer queued while we were unreachable is not lost.
MAX_TRANSIT = timedelta(hours=72) + MAX_SKEW
_CTX = "exchange/http/v1"


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
) -> str:
    """``body_sha256`` instead of ``body`` for a streamed body whose hash is known."""
    ts = int(now.timestamp())
    digest = body_sha256 or sha256_hex(body)
    sig = key.sign(_signing_input(method, path, sender, recipient, ts, digest))
    return f"sender={sender};key={key.public.key_id};ts={ts};sig={b64e(sig)}"


def verify_call(
    header: str | None,
    *,
    method: str,
    path: str,
    me: str,
    body: bytes = b"",
    directory: Directory,
    now: datetime,
    body_sha256: str | None = None,
) -> str:
    """Return the calling authority's id, or raise (unauthorized / unknown_sender / ...).

    For a streamed body, pass the SHA-256 it must have as ``body_sha256`` and check
    the body against it while reading.
    """
    if not header:
        raise Unauthorized(f"peer calls must carry {HEADER}")
    fields = dict(part.partition("=")[::2] for part in header.split(";"))
    if set(fields) != {"sender", "key", "ts", "sig"} or not fields["ts"].isdigit():
        raise Malformed(f"{HEADER} must be sender=..;key=..;ts=..;sig=..")
    ts = int(fields["ts"])
    moment = datetime.fromtimestamp(min(ts, 2**33), UTC)
    if abs(moment - now) > MAX_SKEW:
        raise Unauthorized("peer call time is outside the allowed clock skew")
    authority = directory.get(fields["sender"])
    key = authority.signing_key(fields["key"]) if authority else None
    if key is None:
        raise UnknownSender("calling authority or key is not in the directory")
    if not key.valid_at(now):
        raise ExpiredKey("calling key is expired")
    signature = b64d(fields["sig"], field="sig", length=64)
    digest = body_sha256 or sha256_hex(body)
    verify_signature(
        key.public, _signing_input(method, path, fields["sender"], me, ts, digest), signature
    )
    return fields["sender"]


def _signing_input(
    method: str, path: str, sender: str, recipient: str, ts: int, body_sha256: str
) -> bytes:
    return canonical_json(
        {
            "ctx": _CTX,
            "method": method.upper(),
            "path": path,
            "sender": sender,
            "recipient": recipient,
            "ts": ts,
            "body_sha256": body_sha256,
        }
    )
