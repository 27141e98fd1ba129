"""Signing a checkpoint: a handful of statements whatever the log's size
(``store/audit_root.py``), and the same root, tree and note as the old computation
(``merkle.root`` over ``audit.tree``, which completed every level first)."""

from __future__ import annotations

import random
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from exchange.core.keys import SigningKeyPair
from exchange.core.merkle import EMPTY_ROOT, MemoryHashStore, root
from exchange.core.witness import sign_checkpoint
from exchange.node.runner import start_node
from exchange.service import audit as audit_service
from exchange.store import audit, checkpoints
from exchange.store.audit_root import signing_root
from exchange.store.db import migrate, transaction

from ..federation import Federation
from ..storage import connect, sqlite_only

AT = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def _append(conn: sqlite3.Connection, start: int, count: int) -> list[bytes]:
    """``count`` entries (one transaction); their encoded bytes, read back."""
    with transaction(conn):
        for i in range(start, start + count):
            audit.append(conn, at=AT, authority="ES-CNA", action="login_succeeded", actor=f"u{i}")
    return [entry for _, entry in audit.entries(conn, start, start + count)]


def _nodes(conn: sqlite3.Connection) -> list[tuple[int, int, bytes]]:
    rows = conn.execute("SELECT level, idx, hash FROM audit_nodes ORDER BY level, idx")
    return [(int(level), int(idx), bytes(h)) for level, idx, h in rows.fetchall()]


def _old_root(conn: sqlite3.Connection, size: int) -> bytes:
    with transaction(conn):
        return root(audit.tree(conn), size)


def _new_root(conn: sqlite3.Connection, size: int) -> bytes:
    with transaction(conn):
        return signing_root(conn, size)


def test_the_root_and_the_tree_are_the_old_computations(tmp_path: Path) -> None:
    """Over random log sizes, with the tree left built in part between signings (the
    checkpointer's rounds, a proof's read), as the old path and the reference tree."""
    rng = random.Random(17)  # noqa: S311 -- reproducible log sizes, not a secret
    old, new = connect(tmp_path / "old.db"), connect(tmp_path / "new.db")
    reference = MemoryHashStore()
    assert _new_root(new, 0) == EMPTY_ROOT
    for _ in range(60):
        count = rng.choice([1, 1, 2, 3, rng.randint(1, 40), rng.randint(1, 300)])
        for entry in _append(new, reference.size, count):
            reference.append(entry)
        _append(old, reference.size - count, count)
        if rng.random() < 0.4:  # part of the tree built before the signing
            with transaction(new):
                audit.complete_levels(new, limit=rng.randint(1, 200))
        size = reference.size
        assert _new_root(new, size) == _old_root(old, size) == root(reference, size)
        assert _nodes(new) == _nodes(old)  # node for node what complete_levels stores
    assert reference.size > 1024


def test_golden_checkpoint() -> None:
    """The note the old computation signed for this log (computed on main before the
    change), byte for byte."""
    conn = sqlite3.connect(":memory:", isolation_level=None)
    migrate(conn)
    _append(conn, 0, 1402)
    key = SigningKeyPair.from_seed(bytes(range(32)), AT, AT + timedelta(days=365))
    tree_root = _new_root(conn, 1402)
    assert tree_root.hex() == "766a408b41cb39c81ba9739758d318ce4e512f405dbda4041ac8da4e762621ac"
    assert sign_checkpoint("ES-CNA", 1402, tree_root, key) == (
        "exchange/ES-CNA/audit\n1402\ndmpAi0HLOcgbqXOXWNMYzk5RL0BdvaQEGsjaTnYmIaw=\n\n"
        "— exchange/ES-CNA/audit i1PmSFleosP1JXhL4YBciJKQN0I7K9ROKUUlaoWKx5HA8sNtNXmD9clxZ4U"
        "GUE1MuCTD3UIzkK44c3/lRGdA1cOPOgA=\n"
    )


def test_a_gap_among_the_new_leaves_fails_as_before(tmp_path: Path) -> None:
    conn = connect(tmp_path / "a.db")
    _append(conn, 0, 40)
    _new_root(conn, 40)
    _append(conn, 40, 10)
    conn.execute("DELETE FROM audit_nodes WHERE level = 0 AND idx = 44")
    with pytest.raises(RuntimeError, match="gaps"):
        _new_root(conn, 50)


# --- what a node's signing runs ---------------------------------------------------


@pytest.fixture
async def quiet(tmp_path: Path) -> AsyncIterator[Federation]:
    """A node without background workers: only the test signs."""
    federation = Federation.create(tmp_path, ["ES-CNA"], users=False)
    member = federation["ES-CNA"]
    member.running = await start_node(member.config, background=False)
    yield federation
    await federation.stop()


@sqlite_only("the statements are counted with SQLite's trace")
async def test_signing_runs_a_few_statements_whatever_the_log_size(quiet: Federation) -> None:
    node = quiet["ES-CNA"].node
    await audit_service.sign_now(node)  # the first one asks the log's size apart
    counts: list[int] = []
    for count in (3, 10, 700, 1):
        size = await node.db.run(audit.size)
        await node.db.run(lambda c, size=size, count=count: _append(c, size, count))
        statements: list[str] = []
        node.db.run_sync(lambda c, s=statements: c.set_trace_callback(s.append))
        stored = await audit_service.sign_now(node)
        node.db.run_sync(lambda c: c.set_trace_callback(None))
        counts.append(len(statements))
        assert stored.size == size + count
        assert stored == await node.db.run(lambda c, n=stored.size: checkpoints.at_size(c, n))
        assert stored.root == await node.db.run(lambda c, n=stored.size: _old_root(c, n))
    # BEGIN, the latest checkpoint with the log's size, the tree's edge, its new nodes
    # (if any), the checkpoint, COMMIT: were 20 to 50, more as the log grew
    assert max(counts) <= 6, counts
