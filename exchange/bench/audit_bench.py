"""Audit log: append rate, `audit verify` rate and proof times at 1,000,000 entries."""

from __future__ import annotations

import hashlib
import random
import sqlite3
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from ..core.audit_entry import encode_entry
from ..core.keys import SigningKeyPair
from ..core.merkle import consistency_proof, inclusion_proof, root
from ..core.note import format_vkey
from ..core.witness import origin_for, sign_checkpoint
from ..ops.audit_check import verify_database
from ..store import audit, checkpoints
from ..store.db import Database, transaction
from ..store.snapshots import open_read_only

AUTHORITY = "ES-CNA"


def _entry(i: int, at: datetime) -> bytes:
    return encode_entry(
        at=at,
        authority=AUTHORITY,
        action="request_delivered",
        actor="system",
        fields={"request_id": f"{i:032x}", "receipt_sha256": "ab" * 32},
    )


def build_log(path: Path, n: int, key: SigningKeyPair) -> None:
    """Write an n-entry log with its stored tree and a checkpoint every n/10 entries, fast
    (bulk inserts computed here; the node's own append path is measured separately)."""
    db = Database(path)
    db.close()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous=OFF")  # building the fixture only; verify reads it back
    at = datetime.now(UTC)
    template = _entry(0, at)
    stack: list[bytes] = []
    sha = hashlib.sha256
    conn.execute("BEGIN")
    entries, nodes = [], []
    step = max(1, n // 10)
    for i in range(n):
        entry = template.replace(b"0" * 32, f"{i:032x}".encode(), 1)
        leaf = sha(b"\x00" + entry).digest()
        entries.append((i, entry))
        nodes.append((0, i, leaf))
        current, level, j = leaf, 0, i
        stack.append(leaf)
        while j & 1:
            stack.pop()
            left = stack.pop()
            current = sha(b"\x01" + left + current).digest()
            level, j = level + 1, j >> 1
            nodes.append((level, j, current))
            stack.append(current)
        checkpoint = (i + 1) % step == 0 or i == n - 1
        if len(entries) >= 50_000 or checkpoint:  # a checkpoint needs the tree stored
            conn.executemany("INSERT INTO audit_entries (idx, entry) VALUES (?, ?)", entries)
            conn.executemany("INSERT INTO audit_nodes (level, idx, hash) VALUES (?, ?, ?)", nodes)
            entries, nodes = [], []
        if checkpoint:
            size = i + 1
            conn.execute("COMMIT")
            tree_root = root(audit.SqliteHashStore(conn), size)
            note = sign_checkpoint(AUTHORITY, size, tree_root, key)
            checkpoints.save(conn, size=size, root=tree_root, note=note, now=at)
            conn.execute("BEGIN")
    conn.execute("COMMIT")
    conn.close()


def append_rate(path: Path, n: int = 5000) -> dict[str, float]:
    db = Database(path)
    at = datetime.now(UTC)

    def batched(c: sqlite3.Connection) -> float:
        started = time.perf_counter()
        with transaction(c):
            for i in range(n):
                audit.append(
                    c, at=at, authority=AUTHORITY, action="login_succeeded", actor=f"user{i}"
                )
        return n / (time.perf_counter() - started)

    def durable(c: sqlite3.Connection) -> float:
        started = time.perf_counter()
        for i in range(300):
            with transaction(c):
                audit.append(c, at=at, authority=AUTHORITY, action="login_failed", actor=f"u{i}")
        return 300 / (time.perf_counter() - started)

    try:
        return {
            "audit_append_per_s": db.run_sync(batched),
            "audit_append_durable_txn_per_s": db.run_sync(durable),
        }
    finally:
        db.close()


def run(n: int = 1_000_000) -> dict[str, float]:
    key = SigningKeyPair.generate(datetime.now(UTC), __import__("datetime").timedelta(days=1))
    with tempfile.TemporaryDirectory() as tmp:
        result = append_rate(Path(tmp) / "append.db")
        path = Path(tmp) / "audit.db"
        started = time.perf_counter()
        build_log(path, n, key)
        result["audit_build_s"] = time.perf_counter() - started
        conn = open_read_only(path)
        try:
            started = time.perf_counter()
            report = verify_database(
                conn,
                authority_id=AUTHORITY,
                directory=None,
                vkey=format_vkey(origin_for(AUTHORITY), key.public.public),
            )
            elapsed = time.perf_counter() - started
            assert report.ok and report.entries == n, report.problems[:3]
            result.update(
                {"audit_entries": n, "audit_verify_s": elapsed, "audit_verify_eps": n / elapsed}
            )
            store = audit.SqliteHashStore(conn)
            rng = random.Random(1)
            inclusion, consistency = [], []
            for _ in range(200):
                index = rng.randrange(n)
                started = time.perf_counter()
                inclusion_proof(store, index, n)
                inclusion.append((time.perf_counter() - started) * 1000)
                old = rng.randrange(1, n)
                started = time.perf_counter()
                consistency_proof(store, old, n)
                consistency.append((time.perf_counter() - started) * 1000)
            result["inclusion_proof_ms"] = statistics.median(inclusion)
            result["consistency_proof_ms"] = statistics.median(consistency)
        finally:
            conn.close()
    return result
