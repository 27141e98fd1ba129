"""A witness's view of a log changes only by compare-and-swap on (size, root): an update
made from a stale read fails cleanly and writes nothing (store/witness.swap), and the
pull witness's views survive migration 14."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from exchange.core.errors import OldSizeMismatch
from exchange.store import witness
from exchange.store.db import migrate

AT = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
ORIGIN = "example.com/log"


def _conn(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.row_factory = sqlite3.Row
    migrate(conn)
    return conn


def _swap(conn: sqlite3.Connection, expected: tuple[int, bytes] | None, size: int) -> None:
    witness.swap(
        conn,
        origin=ORIGIN,
        expected=expected,
        size=size,
        root=bytes([size]) * 32,
        note=f"note {size}",
        cosignature=f"line {size}",
        now=AT,
    )


def test_a_second_update_from_the_same_read_fails_and_writes_nothing(tmp_path: Path) -> None:
    conn = _conn(tmp_path / "db")
    _swap(conn, None, 5)
    read = (5, bytes([5]) * 32)
    _swap(conn, read, 9)  # the first of two updates made from the same read
    with pytest.raises(OldSizeMismatch) as caught:
        _swap(conn, read, 7)  # would roll the view back to 7
    assert caught.value.size == 9
    with pytest.raises(OldSizeMismatch):
        _swap(conn, None, 3)  # "no view yet" is a read too
    with pytest.raises(OldSizeMismatch):
        _swap(conn, (9, bytes([8]) * 32), 12)  # the size alone is not enough: the root too
    view = witness.log_view(conn, ORIGIN)
    assert view is not None
    assert (view.size, view.note, view.cosignature) == (9, "note 9", "line 9")


def test_a_view_never_moves_back_even_from_a_current_read(tmp_path: Path) -> None:
    conn = _conn(tmp_path / "db")
    _swap(conn, None, 5)
    with pytest.raises(ValueError, match="never moves back"):
        _swap(conn, (5, bytes([5]) * 32), 4)
    assert witness.log_view(conn, ORIGIN).size == 5  # type: ignore[union-attr]
