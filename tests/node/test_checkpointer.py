"""The checkpointer skips its per-second rounds while its node writes nothing, and
still signs every entry appended: by the node itself, or by another process (a CLI
command) writing to the same database."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from exchange.store import audit, checkpoints
from exchange.store.db import Database, transaction

from ..federation import Federation, wait_until
from ..storage import node_database


@pytest.fixture
async def fed(tmp_path: Path) -> AsyncIterator[Federation]:
    federation = Federation.create(tmp_path, ["ES-CNA"], users=False)
    await federation.start()
    yield federation
    await federation.stop()


def _signed_size(db: Database) -> int | None:
    latest = db.run_sync(checkpoints.latest)
    return None if latest is None else latest.size


async def test_entries_appended_by_another_process_are_signed(fed: Federation) -> None:
    node = fed["ES-CNA"].node
    size = await node.db.run(audit.size)
    await wait_until(lambda: _signed_size(node.db) == size, what="the start checkpointed")
    writes = node.db.writes
    # a CLI command's own connection: the node's count of its own writes does not move
    other = node_database(node.config.data_dir)
    try:

        def append(c: sqlite3.Connection) -> None:
            with transaction(c) as conn:
                audit.append(conn, at=node.clock.now(), authority=node.me,
                             action="user_added", actor="cli", username="x")  # fmt: skip

        other.run_sync(append)
    finally:
        other.close()
    assert node.db.writes == writes
    await wait_until(lambda: _signed_size(node.db) == size + 1, what="the new entry signed")
    tree = await node.db.run(lambda c: audit.node(c, 0, size))  # its leaf is in the tree
    assert len(tree) == 32


async def test_a_burst_of_writes_is_signed_to_its_last_entry(fed: Federation) -> None:
    node = fed["ES-CNA"].node

    def append(c: sqlite3.Connection) -> int:
        with transaction(c) as conn:
            return audit.append(conn, at=node.clock.now(), authority=node.me,
                                action="user_added", actor="admin", username="y")  # fmt: skip

    for _ in range(5):
        last = await node.db.run(append)
    await wait_until(lambda: _signed_size(node.db) == last + 1, what="all signed")
