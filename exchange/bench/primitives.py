"""Where the time goes: Ed25519, one envelope sealed and opened, durable SQLite commits."""

from __future__ import annotations

import sqlite3
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ..core.directory import Authority, Directory, UrgentProcedure
from ..core.envelope import open_, seal
from ..core.keys import EncryptionKeyPair, KeyRing, SigningKeyPair, verify_signature

NOW = datetime.now(UTC)


def rate(fn: Callable[[], object], *, seconds: float = 0.3) -> float:
    """Operations per second of ``fn`` over about ``seconds``."""
    count, start = 0, time.perf_counter()
    while True:
        for _ in range(20):
            fn()
        count += 20
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return count / elapsed


def bench_authority(authority_id: str) -> tuple[Authority, SigningKeyPair, EncryptionKeyPair]:
    sk = SigningKeyPair.generate(NOW - timedelta(hours=1), timedelta(days=30))
    ek = EncryptionKeyPair.generate(NOW - timedelta(hours=1), timedelta(days=30))
    authority = Authority(
        authority_id=authority_id,
        country=authority_id[:2],
        name=f"Authority {authority_id}",
        kind="police",
        node_url=f"https://{authority_id.lower()}.example",
        tls_fingerprint="0" * 64,
        signing_keys=(sk.public,),
        encryption_keys=(ek.public,),
        languages=("en",),
        legal_requirements="",
        contact_hours="24/7",
        timezone="UTC",
        urgent_procedure=UrgentProcedure("Call the duty desk.", 8),
    ).self_signed(sk)
    return authority, sk, ek


def run(payload_bytes: int = 2000) -> dict[str, float]:
    a, a_sk, _ = bench_authority("ES-CNA")
    b, _, b_ek = bench_authority("MA-CNA")
    directory = Directory(1, NOW - timedelta(hours=1), NOW + timedelta(days=1), (a, b))
    message = b"x" * 200
    sig = a_sk.sign(message)
    content = {"kind": "information_request", "body": "x" * payload_bytes}

    def seal_one() -> bytes:
        return seal(
            content,
            msg_type="request",
            msg_id="bench-000001",
            sender_id="ES-CNA",
            sender_key=a_sk,
            recipient=b,
            now=NOW,
            log_size=1000,
        ).data

    envelope = seal_one()
    ring = KeyRing((), (b_ek,))
    return {
        "ed25519_sign_per_s": rate(lambda: a_sk.sign(message)),
        "ed25519_verify_per_s": rate(lambda: verify_signature(a_sk.public.public, message, sig)),
        "envelope_seal_per_s": rate(seal_one),
        "envelope_open_per_s": rate(
            lambda: open_(envelope, directory=directory, me="MA-CNA", keys=ring, now=NOW)
        ),
        "sqlite_durable_commits_per_s": sqlite_commits(),
    }


def sqlite_commits(seconds: float = 0.5) -> float:
    """Commits per second with WAL and synchronous=FULL (each survives a power cut)."""
    with tempfile.TemporaryDirectory() as tmp:
        conn = sqlite3.connect(Path(tmp) / "bench.db", isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB)")
        count, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("INSERT INTO t (v) VALUES (?)", (b"x" * 500,))
            conn.execute("COMMIT")
            count += 1
        elapsed = time.perf_counter() - start
        conn.close()
        return count / elapsed
