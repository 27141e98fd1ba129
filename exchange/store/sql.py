"""Small helpers for statements over many rows at once."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")


def marks(count: int, width: int = 1) -> str:
    """``?,?,?`` for ``count`` values, or ``(?, ?),(?, ?)`` for rows of ``width``."""
    if width == 1:
        return ",".join("?" * count)
    row = "(" + ", ".join("?" * width) + ")"
    return ",".join([row] * count)


def chunks(values: Sequence[T], size: int = 400) -> list[Sequence[T]]:
    """Slices small enough for SQLite's bound-parameter limit."""
    return [values[i : i + size] for i in range(0, len(values), size)]


def insert_rows(conn: sqlite3.Connection, insert: str, rows: Sequence[tuple[object, ...]]) -> None:
    """One multi-row INSERT per chunk (SQLite binds at most 32,766 values)."""
    if not rows:
        return
    width = len(rows[0])
    for part in chunks(rows, 30_000 // width):
        conn.execute(insert + marks(len(part), width=width), [v for row in part for v in row])
