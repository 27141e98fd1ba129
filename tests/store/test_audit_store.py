"""The audit log's SQLite storage against the in-memory reference tree (RFC 9162)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exchange.core.audit_entry import encode_entry
from exchange.core.merkle import (
    MemoryHashStore,
    consistency_proof,
    inclusion_proof,
    root,
    verify_consistency,
    verify_inclusion,
)
from exchange.store import audit
from exchange.store.db import transaction

from ..storage import connect, sqlite_only

AT = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def _conn(path: Path) -> sqlite3.Connection:
    conn = connect(path)
    return conn


def _append(conn: sqlite3.Connection, i: int) -> bytes:
    with transaction(conn):
        index = audit.append(
            conn, at=AT, authority="ES-CNA", action="login_succeeded", actor=f"u{i}"
        )
    assert index == i
    return encode_entry(
        at=AT, authority="ES-CNA", action="login_succeeded", actor=f"u{i}", fields={}
    )


@settings(max_examples=25, deadline=None)
@given(batches=st.lists(st.integers(min_value=0, max_value=70), min_size=1, max_size=5))
def test_trees_completed_in_batches_match_the_reference(
    tmp_path_factory: pytest.TempPathFactory, batches: list[int]
) -> None:
    conn = _conn(tmp_path_factory.mktemp("audit") / "a.db")
    reference = MemoryHashStore()
    for count in batches:
        for _ in range(count):
            reference.append(_append(conn, reference.size))
        store = audit.tree(conn)
        n = reference.size
        assert store.size == n
        assert root(store, n) == root(reference, n)
        for level in range(n.bit_length()):
            for index in range(n >> level):
                assert store.get(level, index) == reference.get(level, index)
        if n:
            index, old = n // 3, max(1, n // 2)
            proof = inclusion_proof(store, index, n)
            assert proof == inclusion_proof(reference, index, n)
            verify_inclusion(reference.get(0, index), index, n, proof, root(reference, n))
            proof = consistency_proof(store, old, n)
            verify_consistency(old, n, root(reference, old), root(reference, n), proof)
    assert audit.complete_levels(conn) == 0  # nothing left to build
    conn.close()


def test_an_entry_rolled_back_with_its_action_leaves_no_leaf(tmp_path: Path) -> None:
    conn = _conn(tmp_path / "a.db")
    _append(conn, 0)
    with pytest.raises(RuntimeError), transaction(conn):
        audit.append(conn, at=AT, authority="ES-CNA", action="login_failed", actor="x")
        raise RuntimeError("the action failed")
    entry = _append(conn, 1)  # the next entry takes index 1: no gap, no stray leaf
    store = audit.tree(conn)
    reference = MemoryHashStore()
    reference.append(
        encode_entry(at=AT, authority="ES-CNA", action="login_succeeded", actor="u0", fields={})
    )
    reference.append(entry)
    assert root(store, 2) == root(reference, 2)
    conn.close()


def test_append_outside_a_transaction_is_refused(tmp_path: Path) -> None:
    conn = _conn(tmp_path / "a.db")
    with pytest.raises(RuntimeError, match="inside the action's transaction"):
        audit.append(conn, at=AT, authority="ES-CNA", action="login_failed", actor="x")
    assert audit.size(conn) == 0
    conn.close()


def test_a_gap_in_the_leaves_is_reported_not_hashed_over(tmp_path: Path) -> None:
    conn = _conn(tmp_path / "a.db")
    for i in range(4):
        _append(conn, i)
    conn.execute("DELETE FROM audit_nodes WHERE level = 0 AND idx = 1")
    with pytest.raises(RuntimeError, match="gaps"):
        audit.tree(conn)
    conn.close()


def test_the_tree_can_be_built_in_bounded_steps(tmp_path: Path) -> None:
    conn = _conn(tmp_path / "a.db")
    reference = MemoryHashStore()
    for i in range(100):
        reference.append(_append(conn, i))
    steps = []
    while (added := audit.extend_tree(conn, 7)) > 0:
        steps.append(added)
    assert max(steps) <= 7 and sum(steps) == 100 - 3  # 100 leaves: 50+25+12+6+3+1 nodes
    store = audit.SqliteHashStore(conn)
    assert root(store, 100) == root(reference, 100)
    conn.close()


def _entry(i: int) -> bytes:
    return encode_entry(
        at=AT, authority="ES-CNA", action="request_sent", actor=f"u{i}", fields={"n": i}
    )


def test_entries_appended_together_follow_the_log_in_chunks(tmp_path: Path) -> None:
    conn = _conn(tmp_path / "a.db")
    reference = MemoryHashStore()
    for i in range(3):
        reference.append(_append(conn, i))
    batch = [_entry(i) for i in range(3, 8)]
    with transaction(conn):
        assert audit.append_all(conn, batch, chunk=2) == 3  # chunks of 2, 2 and 1
        assert audit.append_all(conn, []) == 8
    for entry in batch:
        reference.append(entry)
    reference.append(_append(conn, 8))  # a single append after them goes on from there
    assert audit.entries(conn, 3, 8) == list(enumerate(batch, start=3))
    store = audit.tree(conn)
    assert store.size == 9 and root(store, 9) == root(reference, 9)
    conn.close()


@sqlite_only("SQLite's statement trace; the same SQL runs on PostgreSQL (test above)")
def test_appending_entries_together_is_two_statements_a_chunk(tmp_path: Path) -> None:
    conn = _conn(tmp_path / "a.db")
    _append(conn, 0)
    seen: list[str] = []
    with transaction(conn):
        conn.set_trace_callback(seen.append)
        audit.append_all(conn, [_entry(i) for i in range(1, 6)], chunk=3)
        conn.set_trace_callback(None)
    # before: the log's size read first, then the entries and their leaves
    assert [s.split(" (")[0] for s in seen] == [
        "INSERT INTO audit_entries", "INSERT INTO audit_nodes",
        "INSERT INTO audit_entries", "INSERT INTO audit_nodes",
    ]  # fmt: skip
    conn.close()
