"""Setting up and maintaining a node's data folder: ``exchange init``, key
rotation, users. Used by the CLI, the demo and the tests."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from ..config import NodeConfig, check_storage_url, load_config
from ..core.canonical import format_time
from ..core.clock import Clock, SystemClock
from ..core.directory import Authority
from ..core.errors import Conflict, InvalidRequest, NotFound
from ..core.keys import EncryptionKeyPair, KeyRing, PublicKey, SigningKeyPair
from ..core.note import format_vkey, format_witness_vkey
from ..core.passwords import hash_password
from ..core.peer_auth import MAX_SKEW
from ..core.usernames import check_username
from ..core.witness import origin_for, witness_name_for
from ..store import audit
from ..store import users as users_store
from ..store.db import Database, transaction
from ..store.engine import open_database, open_storage
from .data_folder import make_private
from .keyfiles import (
    create_revocation_key,
    create_storage_key,
    create_tls_certificate,
    key_path,
    load_keyring,
    load_or_create_audit_key,
    load_revoked,
    revocation_public,
    save_keypair,
    save_revoked,
    tls_fingerprint,
    write_private,
)

KEY_VALIDITY = timedelta(days=365)
# an expired private key is deleted this long after its not_after (nothing can use it)
EXPIRED_KEY_GRACE = timedelta(days=1)
# New keys are valid from a little before now, so that a peer whose clock is behind
# ours (within the allowed skew) does not see them as not yet valid.
CLOCK_ALLOWANCE = MAX_SKEW
PUBLIC_INFO = "authority.json"


@dataclass(frozen=True)
class AuthorityInfo:
    """What an authority says about itself in the directory (besides keys and TLS)."""

    authority_id: str
    name: str
    kind: str = "central_authority"
    languages: tuple[str, ...] = ("en",)
    legal_requirements: str = ""
    urgent_procedure: str = "Call the duty officer; confirm in writing through Exchange."
    max_response_hours: int = 24
    contact_hours: str = "Mon-Fri 08:00-18:00"
    timezone: str = "UTC"

    @property
    def country(self) -> str:
        return self.authority_id[:2]


def init_node(
    data: Path,
    info: AuthorityInfo,
    *,
    operator_keys: list[str],
    listen_host: str = "127.0.0.1",
    listen_port: int = 8441,
    public_url: str | None = None,
    directory_source: str = "directory.json",
    clock: Clock | None = None,
    storage_url: str | None = None,
) -> Path:
    """Create keys, TLS certificate, config, database and public info; return the config path."""
    now = (clock or SystemClock()).now()
    config_path = data / "node.toml"
    if config_path.exists():
        raise FileExistsError(f"{config_path} exists: this folder already holds a node")
    if check_storage_url(storage_url) is not None:
        _require_empty(data, storage_url)
    make_private(data)  # owner-only from the start, whatever the umask
    keys_dir = data / "keys"
    keys_dir.mkdir(exist_ok=True, mode=0o700)
    start = now - CLOCK_ALLOWANCE
    save_keypair(keys_dir, SigningKeyPair.generate(start, KEY_VALIDITY))
    save_keypair(keys_dir, EncryptionKeyPair.generate(start, KEY_VALIDITY))
    create_storage_key(keys_dir)
    create_revocation_key(keys_dir)  # keys/revocation.key: to be moved offline
    create_tls_certificate(
        keys_dir, common_name=info.authority_id, hosts=[listen_host, "localhost"]
    )
    config = render_config(
        authority_id=info.authority_id,
        listen_host=listen_host,
        listen_port=listen_port,
        operator_keys=operator_keys,
        source=directory_source,
        storage_url=storage_url,
    )
    write_private(config_path, config.encode())
    url = public_url or f"https://{listen_host}:{listen_port}"
    write_public_info(data, info, url=url, now=now)
    db = open_storage(storage_url, data / "exchange.db")
    try:
        db.run_sync(lambda c: _audit(c, info.authority_id, now, "node_initialised", "admin"))
    finally:
        db.close()
    return config_path


def _require_empty(data: Path, storage_url: str | None) -> None:
    """A database that holds an audit log already is another node's (or this one's
    before): a new node there would append to it. Checked before anything is written."""
    db = open_storage(storage_url, data / "exchange.db")
    try:
        held = db.run_sync(audit.size)
    finally:
        db.close()
    if held:
        raise Conflict(
            f"the database in [storage] url already holds an audit log of {held} entries:"
            " a new node needs an empty database"
        )


def write_public_info(data: Path, info: AuthorityInfo, *, url: str, now: datetime) -> Authority:
    """Write ``authority.json``: the entry the directory operator adds for this node,
    self-signed with the current signing key (proof that this node holds it)."""
    ring = load_keyring(data / "keys")
    revoked = [k for k in load_revoked(data / "keys") if k.not_after > now]
    audit_key = load_or_create_audit_key(data / "keys")
    authority = Authority.from_json(
        {
            "authority_id": info.authority_id,
            "country": info.country,
            "name": info.name,
            "kind": info.kind,
            "node_url": url,
            "tls_fingerprint": tls_fingerprint(data / "keys" / "tls.crt"),
            "signing_keys": [
                k.to_json() for k in [*ring.public_signing(now), *_of(revoked, "ed25519")]
            ],
            "encryption_keys": [
                k.to_json() for k in [*ring.public_encryption(now), *_of(revoked, "x25519")]
            ],
            "languages": list(info.languages),
            "legal_requirements": info.legal_requirements,
            "urgent_procedure": {
                "text": info.urgent_procedure,
                "max_response_hours": info.max_response_hours,
            },
            "contact_hours": info.contact_hours,
            "timezone": info.timezone,
            "audit_vkey": format_vkey(origin_for(info.authority_id), audit_key.public.public),
            "witness_vkey": format_witness_vkey(
                witness_name_for(info.authority_id), audit_key.public.public
            ),
        }
        | (
            {"tls_fingerprint_next": tls_fingerprint(data / "keys" / NEXT_TLS_CERT)}
            if (data / "keys" / NEXT_TLS_CERT).exists()
            else {}
        )
        | (
            {"revocation_key": revocation_public(data / "keys")}
            if revocation_public(data / "keys")
            else {}
        )
    ).self_signed(ring.current_signing(now))
    write_private(data / PUBLIC_INFO, (json.dumps(authority.to_json(), indent=2) + "\n").encode())
    return authority


def _of(keys: list[PublicKey], alg: str) -> list[PublicKey]:
    return [k for k in keys if k.alg == alg]


def read_public_info(data: Path) -> Authority:
    return Authority.from_json(json.loads((data / PUBLIC_INFO).read_text()))


def rotate_keys(data: Path, *, clock: Clock | None = None) -> KeyRing:
    """New signing and encryption keys. The old signing keys are retired now: published
    as verify-only (``retired_at``) for what they signed before; the node stops signing
    with them once the directory publishes the new key. Old encryption keys stay until
    they expire (envelopes sealed to them may still arrive)."""
    now = (clock or SystemClock()).now()
    config = load_config(data / "node.toml")
    for old in load_keyring(config.keys_dir).signing:
        if old.public.retired_at is None:
            save_keypair(config.keys_dir, replace(old, public=replace(old.public, retired_at=now)))
    ring = load_keyring(config.keys_dir).rotated(now - CLOCK_ALLOWANCE, KEY_VALIDITY)
    save_keypair(config.keys_dir, ring.signing[-1])
    save_keypair(config.keys_dir, ring.encryption[-1])
    current = read_public_info(data)
    info = info_from_authority(current)
    write_public_info(data, info, url=current.node_url, now=now)
    db = open_database(config)
    try:
        db.run_sync(
            lambda c: _audit(
                c,
                config.authority_id,
                now,
                "key_rotated",
                "admin",
                signing_key_id=ring.signing[-1].public.key_id,
                encryption_key_id=ring.encryption[-1].public.key_id,
            )
        )
    finally:
        db.close()
    return ring


def revoke_key(
    data: Path, key_id: str, *, compromised_at: datetime | None = None, clock: Clock | None = None
) -> PublicKey:
    """Record ``key_id`` as revoked from ``compromised_at`` (default: now) in
    ``authority.json`` and delete its private key file, both audited (``key_revoked``,
    ``key_deleted``). The current key cannot be revoked: rotate first."""
    now = (clock or SystemClock()).now()
    config = load_config(data / "node.toml")
    ring = load_keyring(config.keys_dir)
    pairs: list[SigningKeyPair | EncryptionKeyPair] = [*ring.signing, *ring.encryption]
    pair = next((p for p in pairs if p.public.key_id == key_id), None)
    if pair is None:
        if any(k.key_id == key_id for k in load_revoked(config.keys_dir)):
            raise Conflict(f"key {key_id} is already revoked")
        raise NotFound(f"this node holds no key {key_id}")
    newest = [
        ring.signing[-1] if ring.signing else None,
        ring.encryption[-1] if ring.encryption else None,
    ]
    if pair in newest:
        raise InvalidRequest(f"{key_id} is the current key: run `exchange keys rotate` first")
    revoked_at = compromised_at or now
    if revoked_at > now:
        raise InvalidRequest("--compromised-at is in the future")
    public = replace(pair.public, revoked_at=revoked_at)
    save_revoked(config.keys_dir, public)
    current = read_public_info(data)
    write_public_info(data, info_from_authority(current), url=current.node_url, now=now)
    db = open_database(config)
    try:
        db.run_sync(lambda c: _audit_revocation(c, config.authority_id, now, public))
    finally:
        db.close()
    return public


def _audit_revocation(conn: Any, me: str, now: datetime, public: PublicKey) -> None:
    assert public.revoked_at is not None
    with transaction(conn):
        at = format_time(public.revoked_at)
        audit.append(
            conn, at=now, authority=me, action="key_revoked", actor="admin",
            key_id=public.key_id, revoked_at=at,
        )  # fmt: skip
        audit.append(
            conn, at=now, authority=me, action="key_deleted", actor="admin",
            key_id=public.key_id, reason="revoked",
        )  # fmt: skip


def _audit_deletion(conn: Any, *, me: str, now: datetime, key: PublicKey) -> None:
    _audit(conn, me, now, "key_deleted", "system", key_id=key.key_id, reason="expired")


def delete_expired_keys(db: Database, config: NodeConfig, clock: Clock) -> list[str]:
    """Delete the private key files past their ``not_after`` plus a grace period (nothing
    can be signed or opened with them any more), each audited as ``key_deleted``.
    Returns the key ids deleted. The audit entry is written before the file goes."""
    now = clock.now()
    ring = load_keyring(config.keys_dir)
    held = [p.public for p in ring.signing] + [p.public for p in ring.encryption]
    expired = [k for k in held if k.not_after + EXPIRED_KEY_GRACE <= now]
    for public in expired:
        db.run_sync(partial(_audit_deletion, me=config.authority_id, now=now, key=public))
        key_path(config.keys_dir, public).unlink(missing_ok=True)
    return [k.key_id for k in expired]


NEXT_TLS_CERT = "tls.next.crt"


def prepare_tls_rotation(data: Path, *, clock: Clock | None = None) -> str:
    """Step 1 of replacing the TLS certificate: make the next one and announce it in
    ``authority.json`` (as ``tls_fingerprint_next``); the node keeps serving the current
    one. Returns the next certificate's fingerprint."""
    now = (clock or SystemClock()).now()
    config = load_config(data / "node.toml")
    keys = config.keys_dir
    if (keys / NEXT_TLS_CERT).exists():
        raise InvalidRequest("a next TLS certificate is already prepared: activate it first")
    fingerprint = create_tls_certificate(
        keys,
        common_name=config.authority_id,
        hosts=[config.listen_host, "localhost"],
        stem="tls.next",
    )
    _republish(data, config, now, "prepared", fingerprint)
    return fingerprint


def activate_tls_rotation(data: Path, *, clock: Clock | None = None) -> str:
    """Step 2, once the directory announcing the next certificate has reached the peers:
    it becomes the node's certificate (served from the next start); the old private key
    is deleted. Returns the new fingerprint."""
    now = (clock or SystemClock()).now()
    config = load_config(data / "node.toml")
    keys = config.keys_dir
    if not (keys / NEXT_TLS_CERT).exists():
        raise InvalidRequest("no next TLS certificate: run `exchange keys rotate --tls` first")
    (keys / "tls.next.key").replace(keys / "tls.key")
    (keys / NEXT_TLS_CERT).replace(keys / "tls.crt")
    fingerprint = tls_fingerprint(keys / "tls.crt")
    _republish(data, config, now, "activated", fingerprint)
    return fingerprint


def _republish(data: Path, config: NodeConfig, now: datetime, stage: str, fp: str) -> None:
    current = read_public_info(data)
    write_public_info(data, info_from_authority(current), url=current.node_url, now=now)
    db = open_database(config)
    try:
        db.run_sync(
            lambda c: _audit(
                c, config.authority_id, now, "key_rotated", "admin", tls_fingerprint=fp, tls=stage
            )
        )
    finally:
        db.close()


def info_from_authority(a: Authority) -> AuthorityInfo:
    return AuthorityInfo(
        authority_id=a.authority_id,
        name=a.name,
        kind=a.kind,
        languages=a.languages,
        legal_requirements=a.legal_requirements,
        urgent_procedure=a.urgent_procedure.text,
        max_response_hours=a.urgent_procedure.max_response_hours,
        contact_hours=a.contact_hours,
        timezone=a.timezone,
    )


def add_user(
    data: Path, *, username: str, password: str, role: str, clock: Clock | None = None
) -> None:
    check_username(username)
    now = (clock or SystemClock()).now()
    config = load_config(data / "node.toml")
    password_hash = hash_password(password)
    db = open_database(config)
    try:
        db.run_sync(
            lambda c: users_store.add_user(
                c,
                me=config.authority_id,
                username=username,
                password_hash=password_hash,
                role=role,
                actor="admin",
                now=now,
            )
        )
    finally:
        db.close()


def _audit(conn: Any, me: str, now: datetime, action: str, actor: str, **fields: Any) -> None:
    with transaction(conn):
        audit.append(conn, at=now, authority=me, action=action, actor=actor, **fields)


def render_config(
    *,
    authority_id: str,
    listen_host: str,
    listen_port: int,
    operator_keys: list[str],
    source: str,
    storage_url: str | None = None,
) -> str:
    keys = ", ".join(f'"{k}"' for k in operator_keys)
    storage = f'\n[storage]\nurl = "{storage_url}"\n' if storage_url else ""
    return f"""# Exchange node configuration (see config/node.example.toml for every setting).
[node]
authority_id = "{authority_id}"
listen_host = "{listen_host}"
listen_port = {listen_port}
log_format = "json"

[directory]
# Pinned directory operator keys: a directory signed by none of them is refused.
operator_keys = [{keys}]
# A file path (relative to this folder) or an https:// URL.
source = "{source}"
refresh_seconds = 300
{storage}"""
