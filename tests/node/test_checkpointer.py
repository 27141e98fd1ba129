"""The checkpointer runs no database job while its node writes nothing, and still
signs every entry appended: by the node itself, or by another process (a CLI command)
writing to the same database."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from exchange.node.runner import start_node
from exchange.service.node import Node
from exchange.store import audit, checkpoints
from exchange.store.db import Database, transaction
from exchange.workers.checkpointer import Checkpointer

from ..federation import Federation, wait_until
from ..postgres import on_postgresql
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


# --- an idle node costs no database job -------------------------------------------


@pytest.fixture
async def quiet(tmp_path: Path) -> AsyncIterator[Federation]:
    """A node without its background workers: the checkpointer a test starts is then
    the only thing that runs database jobs."""
    federation = Federation.create(tmp_path, ["ES-CNA"], users=False)
    member = federation["ES-CNA"]
    member.running = await start_node(member.config, background=False)
    yield federation
    await federation.stop()


def _trace(node: Node) -> list[str]:
    """Every statement the node's connection runs from now on (SQLite's own trace)."""
    statements: list[str] = []
    node.db.run_sync(lambda c: c.set_trace_callback(statements.append))
    return statements


async def _window(intervals: float, node: Node) -> None:
    """Let ``intervals`` checkpoint intervals pass: what is tested is that nothing
    happens in them, and only time can show that."""
    await asyncio.sleep(intervals * node.config.audit.checkpoint_interval.total_seconds())


@pytest.mark.skipif(on_postgresql(), reason="PostgreSQL: no file to stat, signs each interval")
async def test_an_idle_node_runs_no_checkpoint_job(quiet: Federation) -> None:
    node = quiet["ES-CNA"].node
    size = await node.db.run(audit.size)
    task = asyncio.create_task(Checkpointer(node).run())
    try:
        await wait_until(lambda: _signed_size(node.db) == size, what="the start checkpointed")
        # the first look after the start may run one job (the signing wrote itself)
        await _window(2, node)
        statements = _trace(node)
        await _window(5, node)
        assert statements == []  # was a signing transaction every interval
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


@pytest.mark.skipif(on_postgresql(), reason="PostgreSQL: no file to stat, signs each interval")
async def test_a_write_after_a_quiet_spell_is_signed(quiet: Federation) -> None:
    node = quiet["ES-CNA"].node
    size = await node.db.run(audit.size)
    task = asyncio.create_task(Checkpointer(node).run())
    try:
        await wait_until(lambda: _signed_size(node.db) == size, what="the start checkpointed")
        await _window(2, node)
        statements = _trace(node)
        await _window(3, node)
        quiet_spell = list(statements)

        def append(c: sqlite3.Connection) -> int:
            with transaction(c) as conn:
                return audit.append(conn, at=node.clock.now(), authority=node.me,
                                    action="user_added", actor="admin", username="z")  # fmt: skip

        last = await node.db.run(append)
        # woken by the write itself, not by a timer: signed within an interval
        await wait_until(lambda: _signed_size(node.db) == last + 1, what="the write signed")
        assert quiet_spell == []
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
