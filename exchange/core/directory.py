"""The competent-authority directory: entries, the signed document, verification.

Modelled on UNODC's SHERLOC directory of competent national authorities.
The operator signs ``JCS({ctx, directory})`` with Ed25519; nodes pin the
operator keys and accept a document only if a pinned key signed it, it is
not older than the one they hold (no rollback), not expired and not issued
in the future. Every entry must carry its authority's self-signature
(``exchange.core.directory_entry``). Entries are parsed strictly: unknown fields, bad keys or
malformed values make the whole document unusable (``DirectoryRejected``).
Search lives in ``exchange.core.directory_search``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .canonical import JsonObject, b64d, b64e, canonical_json, format_time, parse_time
from .directory_entry import (
    EntrySignature,
    EntrySignatureInvalid,
    check_entry_signature,
    sign_entry,
)
from .errors import BadSignature, DirectoryRejected, Malformed, NotFound, UnsupportedVersion
from .keys import KEY_LENGTH, PublicKey, SigningKeyPair, verify_signature
from .note import ALG_COSIGNATURE_V1, parse_vkey

KINDS = (
    "central_authority",
    "police",
    "prosecution",
    "border_guard",
    "financial_intelligence_unit",
    "liaison",
)
# v2: keys may carry retired_at (verify-only) and revoked_at; a v1 reader would ignore them
CTX = "exchange/directory/v2"
VERSION = 2
MAX_DIRECTORY_BYTES = 64 * 1024 * 1024
MAX_AUTHORITIES = 100_000
MAX_KEYS = 16
MAX_TEXT = 4000
FUTURE_SKEW = timedelta(minutes=5)

_AUTHORITY_ID = re.compile(r"[A-Z]{2}-[A-Z0-9][A-Z0-9-]{0,30}")
_COUNTRY = re.compile(r"[A-Z]{2}")
_FINGERPRINT = re.compile(r"[0-9a-f]{64}")
# BCP 47 language tags, the common shape: language[-script][-region][-variant...]
_LANGUAGE = re.compile(r"[a-z]{2,3}(-[A-Z][a-z]{3})?(-([A-Z]{2}|[0-9]{3}))?(-[A-Za-z0-9]{5,8})*")
_URL = re.compile(r"https://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~/-]*)?")
_ENTRY_FIELDS = {
    "authority_id",
    "country",
    "name",
    "kind",
    "node_url",
    "tls_fingerprint",
    "tls_fingerprint_next",
    "signing_keys",
    "encryption_keys",
    "languages",
    "legal_requirements",
    "urgent_procedure",
    "contact_hours",
    "timezone",
    "audit_vkey",
    "witness_vkey",
    "revocation_key",
    "self_signature",
}


@dataclass(frozen=True)
class UrgentProcedure:
    """How the authority handles urgent cases, and the response time it promises."""

    text: str
    max_response_hours: int

    def to_json(self) -> JsonObject:
        return {"text": self.text, "max_response_hours": self.max_response_hours}

    @classmethod
    def from_json(cls, data: object) -> UrgentProcedure:
        if not isinstance(data, dict) or set(data) != {"text", "max_response_hours"}:
            raise Malformed("urgent_procedure must be {text, max_response_hours}")
        hours = data["max_response_hours"]
        if not isinstance(hours, int) or isinstance(hours, bool) or not 1 <= hours <= 8760:
            raise Malformed("urgent_procedure.max_response_hours must be 1..8760")
        return cls(_text(data["text"], "urgent_procedure.text"), hours)


@dataclass(frozen=True)
class Authority:
    """One competent authority and its node."""

    authority_id: str
    country: str
    name: str
    kind: str
    node_url: str
    tls_fingerprint: str
    signing_keys: tuple[PublicKey, ...]
    encryption_keys: tuple[PublicKey, ...]
    languages: tuple[str, ...]
    legal_requirements: str
    urgent_procedure: UrgentProcedure
    contact_hours: str
    timezone: str
    audit_vkey: str | None = None
    # a certificate announced before the node serves it, so that peers accept it from
    # the moment it is switched on (TLS rotation without an outage)
    tls_fingerprint_next: str | None = None
    # proof of possession: the authority's own signature over the rest of the entry
    # (required in a directory; absent only while an entry is being built)
    self_signature: EntrySignature | None = None
    # ``ed25519:<base64>``: the key whose private half the authority keeps offline and
    # signs emergency revocation statements with (``exchange.core.revocation``)
    revocation_key: str | None = None
    # the cosignature/v1 (type 0x04) verifier key of ``exchange/<id>/witness``: what
    # checks the node's cosignatures as a C2SP witness (core.witness.witness_key)
    witness_vkey: str | None = None

    @property
    def tls_pins(self) -> tuple[str, ...]:
        """Certificate fingerprints a peer accepts for this node."""
        if self.tls_fingerprint_next is None:
            return (self.tls_fingerprint,)
        return (self.tls_fingerprint, self.tls_fingerprint_next)

    def signing_key(self, key_id: str) -> PublicKey | None:
        return next((k for k in self.signing_keys if k.key_id == key_id), None)

    def current_encryption_key(self, now: datetime) -> PublicKey | None:
        """The valid encryption key with the latest ``not_before`` (peers encrypt to it)."""
        valid = [k for k in self.encryption_keys if k.valid_at(now) and k.signs_at(now)]
        return max(valid, key=lambda k: k.not_before) if valid else None

    def to_json(self) -> JsonObject:
        signature = self.self_signature
        return self.unsigned_json() | (
            {"self_signature": signature.to_json()} if signature is not None else {}
        )

    def unsigned_json(self) -> JsonObject:
        """The entry without its self-signature: what the self-signature covers."""
        entry: JsonObject = {
            "authority_id": self.authority_id,
            "country": self.country,
            "name": self.name,
            "kind": self.kind,
            "node_url": self.node_url,
            "tls_fingerprint": self.tls_fingerprint,
            "signing_keys": [k.to_json() for k in self.signing_keys],
            "encryption_keys": [k.to_json() for k in self.encryption_keys],
            "languages": list(self.languages),
            "legal_requirements": self.legal_requirements,
            "urgent_procedure": self.urgent_procedure.to_json(),
            "contact_hours": self.contact_hours,
            "timezone": self.timezone,
            "audit_vkey": self.audit_vkey,
        } | (
            {"tls_fingerprint_next": self.tls_fingerprint_next} if self.tls_fingerprint_next else {}
        )
        if self.revocation_key is not None:
            entry["revocation_key"] = self.revocation_key
        if self.witness_vkey is not None:
            entry["witness_vkey"] = self.witness_vkey
        return entry

    def self_signed(self, pair: SigningKeyPair) -> Authority:
        """This entry, self-signed with ``pair`` (one of its own signing keys)."""
        return replace(self, self_signature=sign_entry(self.unsigned_json(), pair))

    def check_self_signature(self, at: datetime) -> None:
        """Raise ``DirectoryRejected`` naming the entry unless it is self-signed by one
        of its own signing keys that may sign at ``at`` (the directory's issue time)."""
        try:
            check_entry_signature(
                self.unsigned_json(), self.self_signature, self.signing_keys, at=at
            )
        except EntrySignatureInvalid as exc:
            raise DirectoryRejected(f"entry {self.authority_id} {exc}") from None
        witness_name = f"exchange/{self.authority_id}/witness"
        if self.witness_vkey is not None and parse_vkey(self.witness_vkey).name != witness_name:
            raise DirectoryRejected(
                f"entry {self.authority_id} has a witness_vkey not named {witness_name}"
            )

    @classmethod
    def from_json(cls, data: object) -> Authority:
        """Parse one entry strictly; raise ``Malformed`` naming the first bad field."""
        if not isinstance(data, dict):
            raise Malformed("authority entry must be an object")
        optional = {
            "audit_vkey",
            "tls_fingerprint_next",
            "self_signature",
            "revocation_key",
            "witness_vkey",
        }
        missing = sorted(_ENTRY_FIELDS - set(data) - optional)
        if missing:
            raise Malformed(f"authority entry lacks {', '.join(missing)}")
        unknown = sorted(set(data) - _ENTRY_FIELDS)
        if unknown:
            raise Malformed(f"authority entry has unknown field {unknown[0]}")
        authority_id = _match(data["authority_id"], _AUTHORITY_ID, "authority_id")
        country = _match(data["country"], _COUNTRY, "country")
        if not authority_id.startswith(country + "-"):
            raise Malformed("authority_id must start with its country code")
        kind = data["kind"]
        if kind not in KINDS:
            raise Malformed(f"kind must be one of {', '.join(KINDS)}")
        audit_vkey = data.get("audit_vkey")
        if audit_vkey is not None:
            audit_vkey = _text(audit_vkey, "audit_vkey", limit=200)
        tls_next = data.get("tls_fingerprint_next")
        if tls_next is not None:
            tls_next = _match(tls_next, _FINGERPRINT, "tls_fingerprint_next")
        signature = data.get("self_signature")
        witness_vkey = _witness_vkey(data.get("witness_vkey"))
        revocation_key = data.get("revocation_key")
        if revocation_key is not None:
            parse_operator_key(revocation_key)  # raises Malformed
        return cls(
            authority_id=authority_id,
            country=country,
            name=_text(data["name"], "name", limit=300, empty=False),
            kind=kind,
            node_url=_match(data["node_url"], _URL, "node_url"),
            tls_fingerprint=_match(data["tls_fingerprint"], _FINGERPRINT, "tls_fingerprint"),
            signing_keys=_keys(data["signing_keys"], "ed25519", "signing_keys"),
            encryption_keys=_keys(data["encryption_keys"], "x25519", "encryption_keys"),
            languages=_languages(data["languages"]),
            legal_requirements=_text(data["legal_requirements"], "legal_requirements"),
            urgent_procedure=UrgentProcedure.from_json(data["urgent_procedure"]),
            contact_hours=_text(data["contact_hours"], "contact_hours", limit=200),
            timezone=_timezone(data["timezone"]),
            audit_vkey=audit_vkey,
            tls_fingerprint_next=tls_next,
            self_signature=None if signature is None else EntrySignature.from_json(signature),
            revocation_key=revocation_key,
            witness_vkey=witness_vkey,
        )


def _witness_vkey(value: object) -> str | None:
    """A ``witness_vkey`` must be an Ed25519 cosignature/v1 (type 0x04) vkey, or absent
    (its name is checked with the self-signature: ``check_self_signature``)."""
    if value is None:
        return None
    text = _text(value, "witness_vkey", limit=200)
    if parse_vkey(text).alg != ALG_COSIGNATURE_V1:  # parse_vkey raises Malformed
        raise Malformed("witness_vkey must be a cosignature/v1 (type 0x04) key")
    return text


@dataclass(frozen=True)
class Directory:
    serial: int
    issued_at: datetime
    expires_at: datetime
    authorities: tuple[Authority, ...]
    _by_id: dict[str, Authority] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_id = {a.authority_id: a for a in self.authorities}
        if len(by_id) != len(self.authorities):
            raise Malformed("directory lists an authority twice")
        object.__setattr__(self, "_by_id", by_id)

    def get(self, authority_id: str) -> Authority | None:
        return self._by_id.get(authority_id)

    def with_authority(self, authority: Authority) -> Directory:
        """Add the entry, or replace the one with the same id (same serial)."""
        rest = tuple(a for a in self.authorities if a.authority_id != authority.authority_id)
        ordered = tuple(sorted((*rest, authority), key=lambda a: a.authority_id))
        return replace(self, authorities=ordered)

    def without_authority(self, authority_id: str) -> Directory:
        if authority_id not in self._by_id:
            raise NotFound(f"{authority_id} is not in the directory")
        rest = tuple(a for a in self.authorities if a.authority_id != authority_id)
        return replace(self, authorities=rest)

    def check_self_signatures(self) -> None:
        """Every entry self-signed by a key of its own valid at ``issued_at``."""
        for authority in self.authorities:
            authority.check_self_signature(self.issued_at)

    def payload(self) -> JsonObject:
        return {
            "v": VERSION,
            "serial": self.serial,
            "issued_at": format_time(self.issued_at),
            "expires_at": format_time(self.expires_at),
            "authorities": [a.to_json() for a in self.authorities],
        }

    @classmethod
    def from_payload(cls, data: object) -> Directory:
        if not isinstance(data, dict):
            raise Malformed("directory must be an object")
        if set(data) != {"v", "serial", "issued_at", "expires_at", "authorities"}:
            raise Malformed(
                "directory must have exactly v, serial, issued_at, expires_at, authorities"
            )
        if data["v"] != VERSION:
            raise Malformed(f"unsupported directory version {data['v']!r}")
        serial = data["serial"]
        if not isinstance(serial, int) or isinstance(serial, bool) or not 1 <= serial < 2**53:
            raise Malformed("serial must be a positive integer")
        issued_at = parse_time(data["issued_at"], field="issued_at")
        expires_at = parse_time(data["expires_at"], field="expires_at")
        if expires_at <= issued_at:
            raise Malformed("directory expires before it is issued")
        entries = data["authorities"]
        if not isinstance(entries, list) or len(entries) > MAX_AUTHORITIES:
            raise Malformed(f"authorities must be a list of at most {MAX_AUTHORITIES}")
        authorities = []
        for number, entry in enumerate(entries):
            try:
                authorities.append(Authority.from_json(entry))
            except Malformed as exc:
                raise Malformed(f"authority #{number}: {exc.message}") from None
        return cls(serial, issued_at, expires_at, tuple(authorities))


class UnsupportedDirectoryVersion(DirectoryRejected, UnsupportedVersion):
    """A directory document in a format this node does not read (refused, not misread)."""

    code = "unsupported_version"


def parse_operator_key(text: str) -> bytes:
    """``ed25519:<base64 public key>`` -> the 32 key bytes."""
    if not isinstance(text, str) or not text.startswith("ed25519:"):
        raise Malformed("operator key must look like 'ed25519:<base64>'")
    return b64d(text.removeprefix("ed25519:"), field="operator key", length=KEY_LENGTH)


def format_operator_key(public: bytes) -> str:
    return "ed25519:" + b64e(public)


def _signing_input(payload: JsonObject) -> bytes:
    return canonical_json({"ctx": CTX, "directory": payload})


def sign_directory(directory: Directory, *operators: SigningKeyPair) -> bytes:
    """The signed document (canonical JSON). Several operators may sign (key change).
    Raises ``DirectoryRejected`` if an entry's self-signature does not hold: nodes
    would refuse the document."""
    if not operators:
        raise ValueError("at least one operator key signs a directory")
    directory.check_self_signatures()
    payload = directory.payload()
    message = _signing_input(payload)
    signatures = [
        {"key": format_operator_key(op.public.public), "sig": b64e(op.sign(message))}
        for op in operators
    ]
    return canonical_json({"directory": payload, "signatures": signatures})


def verify_directory(
    document: bytes,
    *,
    pinned_operator_keys: tuple[bytes, ...],
    now: datetime,
    held_serial: int | None = None,
    max_bytes: int = MAX_DIRECTORY_BYTES,
    check_time: bool = True,
) -> Directory:
    """Return the directory in ``document`` or raise ``DirectoryRejected`` saying why.

    ``check_time=False`` is for auditors reading the keys of a past directory.
    """
    if len(document) > max_bytes:
        raise DirectoryRejected(f"directory document is larger than {max_bytes} bytes")
    try:
        outer = json.loads(document)
    except (ValueError, UnicodeDecodeError):
        raise DirectoryRejected("directory document is not valid JSON") from None
    if not isinstance(outer, dict) or set(outer) != {"directory", "signatures"}:
        raise DirectoryRejected("directory document must be {directory, signatures}")
    payload = outer["directory"]
    if not isinstance(payload, dict):
        raise DirectoryRejected("directory must be an object")
    if payload.get("v") != VERSION:
        raise UnsupportedDirectoryVersion(
            f"directory version {str(payload.get('v'))[:8]} is not supported"
            f" (this node reads version {VERSION})"
        )
    _check_signatures(outer["signatures"], payload, pinned_operator_keys)
    try:
        directory = Directory.from_payload(payload)
    except Malformed as exc:
        raise DirectoryRejected(f"malformed directory: {exc.message}") from None
    directory.check_self_signatures()
    check_held(directory, now=now, held_serial=held_serial, check_time=check_time)
    return directory


def check_held(
    directory: Directory, *, now: datetime, held_serial: int | None, check_time: bool
) -> None:
    """The checks that depend on the node, not the bytes: its serial and its clock."""
    if held_serial is not None and directory.serial < held_serial:
        raise DirectoryRejected(
            f"rollback refused: serial {directory.serial} is older than held serial {held_serial}"
        )
    if not check_time:
        return
    if directory.expires_at <= now:
        raise DirectoryRejected(f"directory expired at {format_time(directory.expires_at)}")
    if directory.issued_at > now + FUTURE_SKEW:
        raise DirectoryRejected(
            f"directory is issued in the future ({format_time(directory.issued_at)})"
        )


def _check_signatures(signatures: object, payload: JsonObject, pinned: tuple[bytes, ...]) -> None:
    if not isinstance(signatures, list) or not 1 <= len(signatures) <= 8:
        raise DirectoryRejected("signatures must be a list of 1 to 8")
    message: bytes | None = None
    trusted = 0
    for item in signatures:
        if not isinstance(item, dict) or set(item) != {"key", "sig"}:
            raise DirectoryRejected("each signature must be {key, sig}")
        try:
            key = parse_operator_key(item["key"])
            sig = b64d(item["sig"], field="sig", length=64)
        except Malformed as exc:
            raise DirectoryRejected(f"bad signature entry: {exc.message}") from None
        if key not in pinned:
            continue  # another operator's key (e.g. one being introduced): not ours to judge
        if message is None:
            try:
                message = _signing_input(payload)
            except (TypeError, ValueError):
                raise DirectoryRejected("directory cannot be canonicalised") from None
        try:
            verify_signature(key, message, sig)
        except BadSignature:
            raise DirectoryRejected("a pinned operator key's signature does not verify") from None
        trusted += 1
    if trusted == 0:
        raise DirectoryRejected("directory is not signed by a pinned operator key")


def _text(value: object, name: str, *, limit: int = MAX_TEXT, empty: bool = True) -> str:
    if not isinstance(value, str) or len(value) > limit or (not empty and not value.strip()):
        raise Malformed(
            f"{name} must be a{'' if empty else ' non-empty'} string of at most {limit} characters"
        )
    if any(ord(ch) < 32 and ch not in "\n\t" for ch in value):
        raise Malformed(f"{name} contains control characters")
    return value


def _match(value: object, pattern: re.Pattern[str], name: str) -> str:
    if not isinstance(value, str) or len(value) > 300 or not pattern.fullmatch(value):
        raise Malformed(f"{name} is not valid")
    return value


def _keys(value: object, alg: str, name: str) -> tuple[PublicKey, ...]:
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_KEYS:
        raise Malformed(f"{name} must be a list of 1 to {MAX_KEYS} keys")
    keys = tuple(PublicKey.from_json(k) for k in value)
    if any(k.alg != alg for k in keys):
        raise Malformed(f"{name} must all be {alg} keys")
    if len({k.key_id for k in keys}) != len(keys):
        raise Malformed(f"{name} lists a key twice")
    return keys


def _languages(value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or not 1 <= len(value) <= 30:
        raise Malformed("languages must be a list of 1 to 30 BCP 47 tags")
    return tuple(_match(v, _LANGUAGE, "language tag") for v in value)


def _timezone(value: object) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z0-9_+/-]{1,60}", value):
        raise Malformed("timezone must be an IANA time zone name")
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise Malformed(f"unknown time zone {value}") from None
    return value
