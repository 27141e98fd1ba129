"""Emergency revocation statements: an authority revokes one of its keys at once,
without waiting for the next directory.

Each directory entry names a *revocation key* (Ed25519, ``revocation_key``) whose
private half the authority keeps offline, apart from the node. A statement is
``{"statement": S, "sig": b64(Ed25519(JCS(S)))}`` in canonical JSON, where
``S = {v: 1, ctx: "exchange/revocation/v1", authority, key_id, revoked_at, issued_at}``
is signed by that revocation key. A thief holding the node's signing keys cannot
make one, and a node that verifies one treats ``key_id`` as revoked from
``revoked_at`` on (``apply_revocations``), whatever its directory says yet.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from .canonical import (
    JsonObject,
    b64d,
    b64e,
    canonical_json,
    format_time,
    loads_canonical,
    parse_time,
)
from .directory import Authority, Directory, parse_operator_key
from .errors import BadSignature, ExchangeError, Malformed, TooLarge, UnknownSender
from .keys import SIGNATURE_LENGTH, PublicKey, SigningKeyPair, verify_signature

CTX = "exchange/revocation/v1"
VERSION = 1
# a statement is a few hundred bytes: nothing larger is read
MAX_STATEMENT_BYTES = 2048
FUTURE_SKEW = timedelta(minutes=5)
_FIELDS = {"v", "ctx", "authority", "key_id", "revoked_at", "issued_at"}


class NoRevocationKey(ExchangeError):
    """The authority's directory entry names no revocation key, so no statement of
    its can be verified (it revokes through the next directory only)."""

    code = "no_revocation_key"


class UnknownKey(ExchangeError):
    """The statement names a key that is not one of the authority's keys in the
    directory: nothing to revoke, nothing stored."""

    code = "unknown_key"


@dataclass(frozen=True)
class RevocationStatement:
    authority: str
    key_id: str
    revoked_at: datetime
    issued_at: datetime
    document: bytes  # the signed bytes, as received (kept as proof)


def _statement(
    authority: str, key_id: str, revoked_at: datetime, issued_at: datetime
) -> JsonObject:
    return {
        "v": VERSION,
        "ctx": CTX,
        "authority": authority,
        "key_id": key_id,
        "revoked_at": format_time(revoked_at),
        "issued_at": format_time(issued_at),
    }


def sign_statement(
    *,
    authority: str,
    key_id: str,
    revoked_at: datetime,
    issued_at: datetime,
    revocation_key: SigningKeyPair,
) -> bytes:
    """The signed statement document (canonical JSON)."""
    if revoked_at > issued_at:
        raise Malformed("revoked_at is after issued_at")
    statement = _statement(authority, key_id, revoked_at, issued_at)
    sig = revocation_key.sign(canonical_json(statement))
    return canonical_json({"sig": b64e(sig), "statement": statement})


def parse_statement(document: bytes) -> tuple[RevocationStatement, bytes]:
    """Strict shape check (canonical, exact fields, sizes); returns the statement and
    its signature, not yet verified."""
    if len(document) > MAX_STATEMENT_BYTES:
        raise TooLarge(f"a revocation statement is at most {MAX_STATEMENT_BYTES} bytes")
    outer = loads_canonical(document, max_depth=3, what="revocation statement")
    if set(outer) != {"sig", "statement"}:
        raise Malformed("revocation statement must be {sig, statement}")
    sig = b64d(outer["sig"], field="sig", length=SIGNATURE_LENGTH)
    inner = outer["statement"]
    if not isinstance(inner, dict) or set(inner) != _FIELDS:
        raise Malformed(f"statement must have exactly {', '.join(sorted(_FIELDS))}")
    if inner["v"] != VERSION or inner["ctx"] != CTX:
        raise Malformed(f"statement must be v {VERSION}, ctx {CTX}")
    authority, key_id = inner["authority"], inner["key_id"]
    if not isinstance(authority, str) or not 4 <= len(authority) <= 40:
        raise Malformed("authority is not valid")
    if not isinstance(key_id, str) or not key_id.startswith(("ed25519:", "x25519:")):
        raise Malformed("key_id is not valid")
    if len(key_id) > 40:
        raise Malformed("key_id is not valid")
    revoked_at = parse_time(inner["revoked_at"], field="revoked_at")
    issued_at = parse_time(inner["issued_at"], field="issued_at")
    if revoked_at > issued_at:
        raise Malformed("revoked_at is after issued_at")
    return RevocationStatement(authority, key_id, revoked_at, issued_at, document), sig


def verify_statement(
    document: bytes, *, directory: Directory, now: datetime
) -> RevocationStatement:
    """The statement in ``document`` if it is signed by the revocation key the
    directory names for its authority and names one of that authority's keys; else
    ``malformed``/``too_large``, ``unknown_sender``, ``no_revocation_key``,
    ``bad_signature``, ``unknown_key`` or ``bad_time``-free ``malformed`` (issued in
    the future)."""
    statement, sig = parse_statement(document)
    if statement.issued_at > now + FUTURE_SKEW:
        raise Malformed("statement is issued in the future")
    authority = directory.get(statement.authority)
    if authority is None:
        raise UnknownSender(f"{statement.authority} is not in the directory")
    if authority.revocation_key is None:
        raise NoRevocationKey(f"{statement.authority} names no revocation key")
    inner = _statement(
        statement.authority, statement.key_id, statement.revoked_at, statement.issued_at
    )
    try:
        verify_signature(parse_operator_key(authority.revocation_key), canonical_json(inner), sig)
    except BadSignature:
        raise BadSignature("statement is not signed by the authority's revocation key") from None
    if statement.key_id not in {k.key_id for k in _keys(authority)}:
        raise UnknownKey(f"{statement.key_id} is not a key of {statement.authority}")
    return statement


def _keys(authority: Authority) -> tuple[PublicKey, ...]:
    return (*authority.signing_keys, *authority.encryption_keys)


def apply_revocations(
    directory: Directory, revoked: Iterable[tuple[str, str, datetime]]
) -> Directory:
    """``directory`` with each (authority, key_id, revoked_at) applied: the key is
    revoked from the earlier of its own ``revoked_at`` and the statement's. Never
    un-revokes. (Entries changed here no longer match their self-signature: the
    result is the node's working view, never re-published.)"""
    marks: dict[str, dict[str, datetime]] = {}
    for authority_id, key_id, at in revoked:
        marks.setdefault(authority_id, {})[key_id] = min(
            at, marks.get(authority_id, {}).get(key_id, at)
        )
    result = directory
    for authority_id, keys in marks.items():
        entry = directory.get(authority_id)
        if entry is None:
            continue
        result = result.with_authority(
            replace(
                entry,
                signing_keys=tuple(_mark(k, keys) for k in entry.signing_keys),
                encryption_keys=tuple(_mark(k, keys) for k in entry.encryption_keys),
            )
        )
    return result


def _mark(key: PublicKey, marks: dict[str, datetime]) -> PublicKey:
    at = marks.get(key.key_id)
    if at is None or (key.revoked_at is not None and key.revoked_at <= at):
        return key
    return replace(key, revoked_at=at)
