"""Private key files of a node (mode 0600, written atomically) and the TLS certificate.

Layout of ``DATA/keys``: ``signing-<id>.json``, ``encryption-<id>.json``,
``storage.key`` (the key that wraps per-record content keys), ``tls.key``
and ``tls.crt``. Private keys never leave this folder and are never logged.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import json
import os
import tempfile
from dataclasses import replace
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ..core.canonical import b64d, b64e, format_time, parse_time
from ..core.errors import ExchangeError
from ..core.keys import EncryptionKeyPair, KeyRing, PublicKey, SigningKeyPair
from ..core.vault import (
    KEY_BYTES,
    is_protected,
    new_storage_key,
    protect_storage_key,
    unprotect_storage_key,
)

TEMPORARY = ".tmp-"  # the prefix of write_private's temporary files


def write_private(path: Path, data: bytes, *, new: bool = False) -> None:
    """Atomically write ``data`` to ``path`` with mode 0600 from the first byte. With
    ``new``, ``path`` must not exist yet (``FileExistsError``): it is linked in place
    instead of replaced, so an existing file is never overwritten."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=TEMPORARY)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if new:
            os.link(tmp, path)
            Path(tmp).unlink()
        else:
            os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_keypair(keys_dir: Path, pair: SigningKeyPair | EncryptionKeyPair) -> Path:
    public = pair.public
    secret = pair.seed if isinstance(pair, SigningKeyPair) else pair.private
    kind = "signing" if isinstance(pair, SigningKeyPair) else "encryption"
    doc = {
        "kind": kind,
        "key_id": public.key_id,
        "private_key": b64e(secret),
        "not_before": format_time(public.not_before),
        "not_after": format_time(public.not_after),
    } | ({"retired_at": format_time(public.retired_at)} if public.retired_at else {})
    path = key_path(keys_dir, public)
    write_private(path, json.dumps(doc, indent=2).encode())
    return path


def key_path(keys_dir: Path, public: PublicKey) -> Path:
    kind = "signing" if public.alg == "ed25519" else "encryption"
    return keys_dir / f"{kind}-{public.key_id.split(':')[1]}.json"


def save_revoked(keys_dir: Path, public: PublicKey) -> None:
    """Keep the public half of a revoked key (``revoked-<id>.json``) so that it stays
    published as revoked, then delete its private key file."""
    path = keys_dir / f"revoked-{public.key_id.split(':')[1]}.json"
    doc = {"kind": "revoked", "key": public.to_json()}
    write_private(path, json.dumps(doc, indent=2).encode())
    key_path(keys_dir, public).unlink(missing_ok=True)


def load_revoked(keys_dir: Path) -> list[PublicKey]:
    """The revoked keys recorded by ``save_revoked``, oldest first."""
    found = []
    for path in sorted(keys_dir.glob("revoked-*.json")):
        doc = json.loads(path.read_text())
        if doc.get("kind") == "revoked":
            found.append(PublicKey.from_json(doc["key"]))
    return sorted(found, key=lambda k: k.not_before)


def load_keyring(keys_dir: Path) -> KeyRing:
    signing: list[SigningKeyPair] = []
    encryption: list[EncryptionKeyPair] = []
    for path in sorted(keys_dir.glob("*.json")):
        doc = json.loads(path.read_text())
        if doc.get("kind") not in ("signing", "encryption"):
            continue  # the audit-log key lives beside them
        secret = b64d(doc["private_key"], field="private_key", length=32)
        start, end = parse_time(doc["not_before"]), parse_time(doc["not_after"])
        if doc["kind"] == "signing":
            pair = SigningKeyPair.from_seed(secret, start, end)
            if "retired_at" in doc:
                retired = parse_time(doc["retired_at"])
                pair = replace(pair, public=replace(pair.public, retired_at=retired))
            signing.append(pair)
        elif doc["kind"] == "encryption":
            encryption.append(EncryptionKeyPair.from_private(secret, start, end))
    signing.sort(key=lambda k: k.public.not_before)
    encryption.sort(key=lambda k: k.public.not_before)
    return KeyRing(tuple(signing), tuple(encryption))


OPERATOR_KEY_VALIDITY = dt.timedelta(days=3650)
AUDIT_KEY_FILE = "audit-log.json"


def load_or_create_audit_key(keys_dir: Path) -> SigningKeyPair:
    """The long-lived Ed25519 key that signs this node's audit checkpoints and cosigns
    its peers' (its verifier key is the directory entry's ``audit_vkey``)."""
    path = keys_dir / AUDIT_KEY_FILE
    if path.exists():
        doc = json.loads(path.read_text())
        seed = b64d(doc["private_key"], field="private_key", length=32)
        created = parse_time(doc["created_at"])
        return SigningKeyPair.from_seed(seed, created, created + OPERATOR_KEY_VALIDITY)
    now = dt.datetime.now(dt.UTC)
    pair = SigningKeyPair.generate(now, OPERATOR_KEY_VALIDITY)
    doc = {"kind": "audit-log", "private_key": b64e(pair.seed), "created_at": format_time(now)}
    write_private(path, json.dumps(doc, indent=2).encode())
    return pair


def create_operator_key(path: Path) -> SigningKeyPair:
    """A directory operator's Ed25519 key, in its own 0600 file (never in a node's folder)."""
    if path.exists():
        raise FileExistsError(f"{path} exists: refusing to overwrite an operator key")
    now = dt.datetime.now(dt.UTC)
    pair = SigningKeyPair.generate(now, OPERATOR_KEY_VALIDITY)
    doc = {
        "kind": "directory-operator",
        "private_key": b64e(pair.seed),
        "public": "ed25519:" + b64e(pair.public.public),
        "created_at": format_time(now),
    }
    write_private(path, json.dumps(doc, indent=2).encode())
    return pair


def load_operator_key(path: Path) -> SigningKeyPair:
    doc = json.loads(path.read_text())
    if doc.get("kind") != "directory-operator":
        raise ValueError(f"{path} is not a directory operator key file")
    seed = b64d(doc["private_key"], field="private_key", length=32)
    created = parse_time(doc["created_at"])
    return SigningKeyPair.from_seed(seed, created, created + OPERATOR_KEY_VALIDITY)


def create_storage_key(keys_dir: Path) -> None:
    write_private(keys_dir / "storage.key", new_storage_key())


class PassphraseNeeded(ExchangeError):
    """The storage key is protected by a passphrase and none was given."""

    code = "passphrase_needed"


def load_storage_key(
    keys_dir: Path, passphrase: bytes | None = None, *, name: str = "storage.key"
) -> bytes:
    data = (keys_dir / name).read_bytes()
    if is_protected(data):
        if passphrase is None:
            raise PassphraseNeeded(
                "the storage key is protected: start with --passphrase-file FILE "
                "(or EXCHANGE_PASSPHRASE_FILE)"
            )
        data = unprotect_storage_key(data, passphrase)
    if len(data) != KEY_BYTES:
        raise ValueError(f"{name} is damaged")
    return data


def protect_storage_key_file(keys_dir: Path, passphrase: bytes, **limits: int) -> None:
    """Replace ``storage.key`` by its passphrase-protected form (atomically)."""
    path = keys_dir / "storage.key"
    data = path.read_bytes()
    if is_protected(data):
        raise ExchangeError("the storage key is already protected", code="conflict")
    write_private(path, protect_storage_key(load_storage_key(keys_dir), passphrase, **limits))


def read_passphrase_file(path: Path) -> bytes:
    passphrase = path.read_bytes().rstrip(b"\r\n")
    if len(passphrase) < 12:
        raise ExchangeError("a passphrase needs at least 12 characters", code="invalid_request")
    return passphrase


def create_tls_certificate(
    keys_dir: Path, *, common_name: str, hosts: list[str], stem: str = "tls"
) -> str:
    """Self-signed P-256 certificate in ``<stem>.crt`` / ``<stem>.key``; returns its
    SHA-256 fingerprint (hex of the DER)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    alt_names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            alt_names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            alt_names.append(x509.DNSName(host))
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=825))
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    write_private(
        keys_dir / f"{stem}.key",
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )
    pem = cert.public_bytes(serialization.Encoding.PEM)
    write_private(keys_dir / f"{stem}.crt", pem)
    return tls_fingerprint(keys_dir / f"{stem}.crt")


def tls_fingerprint(cert_path: Path) -> str:
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


REVOCATION_KEY_FILE = "revocation.key"
REVOCATION_PUBLIC_FILE = "revocation.pub"


def create_revocation_key(keys_dir: Path) -> Path:
    """The authority's revocation key (``exchange.core.revocation``): the private half in
    ``keys/revocation.key`` (0600), for the operator to move offline at once; the public
    half in ``keys/revocation.pub``, which stays (it goes into ``authority.json``)."""
    path = keys_dir / REVOCATION_KEY_FILE
    if path.exists() or (keys_dir / REVOCATION_PUBLIC_FILE).exists():
        raise FileExistsError(f"{path} exists: refusing to overwrite a revocation key")
    now = dt.datetime.now(dt.UTC)
    pair = SigningKeyPair.generate(now, OPERATOR_KEY_VALIDITY)
    public = "ed25519:" + b64e(pair.public.public)
    doc = {
        "kind": "authority-revocation",
        "private_key": b64e(pair.seed),
        "public": public,
        "created_at": format_time(now),
    }
    write_private(path, json.dumps(doc, indent=2).encode())
    write_private(keys_dir / REVOCATION_PUBLIC_FILE, (public + "\n").encode())
    return path


def revocation_public(keys_dir: Path) -> str | None:
    """``ed25519:<base64>`` of the revocation key, or None for a node made before them."""
    path = keys_dir / REVOCATION_PUBLIC_FILE
    return path.read_text().strip() if path.exists() else None


def load_revocation_key(path: Path) -> SigningKeyPair:
    doc = json.loads(path.read_text())
    if not isinstance(doc, dict) or doc.get("kind") != "authority-revocation":
        raise ValueError(f"{path} is not an authority revocation key file")
    seed = b64d(doc["private_key"], field="private_key", length=32)
    created = parse_time(doc["created_at"])
    return SigningKeyPair.from_seed(seed, created, created + OPERATOR_KEY_VALIDITY)
